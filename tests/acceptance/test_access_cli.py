"""``relaykit keys`` and ``relaykit users`` as a user drives them, and the keys they make
working on the HTTP API; ``relaykit serve`` refusing bad input in one line."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
import pytest
from tests.http_app import make_client
from tests.serving import free_port

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

DB = ("--database", "sqlite:///relaykit.db")


def _status(tmp_path: Path, key: str) -> int:
    async def go() -> int:
        client = make_client(f"sqlite:///{tmp_path / 'relaykit.db'}")
        transport = httpx2.ASGITransport(app=client.asgi_app())
        try:
            async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
                r = await http.get("/api/v1/jobs", headers={"Authorization": f"Bearer {key}"})
                return r.status_code
        finally:
            await client.close()

    return asyncio.run(go())


def test_a_key_is_printed_once_stored_hashed_listed_and_revocable(
    rk: Relaykit, tmp_path: Path
) -> None:
    made = rk("keys", "create", "--name", "ci", *DB)
    assert made.returncode == 0, made.describe()
    key = made.stdout.strip()
    assert key.startswith("rk_") and len(key) > 40
    assert "not shown again" in made.stderr
    with closing(sqlite3.connect(tmp_path / "relaykit.db")) as db:
        rows = db.execute("SELECT id, name, key_hash FROM api_keys").fetchall()
        dump = "\n".join(db.iterdump())
    key_id = key.split("_")[1]
    assert rows == [(key_id, "ci", hashlib.sha256(key.encode()).hexdigest())]
    assert key not in dump  # only the hash is stored
    assert _status(tmp_path, key) == 200
    listed = rk("keys", "list", "--json", *DB)
    assert listed.json() == [
        {"id": key_id, "name": "ci", "created_at": listed.json()[0]["created_at"], "revoked": False}
    ]
    assert key not in listed.stdout
    assert rk("keys", "revoke", key_id, *DB).returncode == 0
    assert _status(tmp_path, key) == 401
    again = rk("keys", "revoke", key_id, *DB)
    assert again.returncode == 2
    assert (
        again.error_line()
        == f"relaykit: error: no active API key {key_id!r}; see `relaykit keys list`"
    )


def test_users_are_made_from_stdin_once_per_name(rk: Relaykit, tmp_path: Path) -> None:
    def create(name: str, password: str) -> tuple[int, str]:
        done = rk("users", "create", name, "--password-stdin", *DB, input=password + "\n")
        return done.returncode, done.stderr.strip()

    assert create("ada", "a long password") == (0, "")
    assert create("ada", "another password") == (
        2,
        "relaykit: error: a user named 'ada' exists already; pick another name",
    )
    assert create("bob", "short") == (
        2,
        "relaykit: error: the password must have at least 8 characters",
    )
    with closing(sqlite3.connect(tmp_path / "relaykit.db")) as db:
        rows = db.execute("SELECT name, password_hash FROM users").fetchall()
    assert [r[0] for r in rows] == ["ada"]
    assert rows[0][1].startswith("scrypt$") and "a long password" not in rows[0][1]


def test_serve_refuses_an_app_that_does_not_load(rk: Relaykit, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text('raise RuntimeError("broken at import")\n')
    done = rk("serve", "broken.py", "--port", "1", *DB)
    assert done.returncode == 2
    assert done.error_line().startswith("relaykit: error: cannot load APP 'broken.py'")
    assert done.stdout == ""


def test_dev_serves_the_api_runs_jobs_and_stops_cleanly(rk: Relaykit, tmp_path: Path) -> None:
    key = rk("keys", "create", *DB).stdout.strip()
    port = free_port()
    app = str(Path(__file__).resolve().parents[1] / "http_app.py")
    proc = rk.popen("dev", app, "--port", str(port), *DB)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith(f"relaykit: dashboard http://127.0.0.1:{port}/"), banner
        assert "one-time login link" in proc.stdout.readline()

        async def go() -> dict[str, object]:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1") as http:
                for _ in range(200):  # until uvicorn listens
                    try:
                        created = await http.post("/jobs/hello/runs", json={}, headers=headers)
                        break
                    except httpx2.ConnectError:
                        await asyncio.sleep(0.05)
                run_id = created.json()["id"]
                for _ in range(200):  # the worker in the same process executes it
                    run: dict[str, object] = (
                        await http.get(f"/runs/{run_id}", headers=headers)
                    ).json()
                    if run["status"] == "succeeded":
                        return run
                    await asyncio.sleep(0.05)
            raise AssertionError(f"run {run_id} did not succeed: {run}")

        run = asyncio.run(go())
        assert run["output"] == {"total": 21, "payload": None}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "outer/inner" in err  # dev prints each task as it ends


def test_dev_restarts_when_the_app_changes(rk: Relaykit, tmp_path: Path) -> None:
    source = (Path(__file__).resolve().parents[1] / "http_app.py").read_text()
    app = tmp_path / "app.py"
    app.write_text(source)
    key = rk("keys", "create", *DB).stdout.strip()
    port = free_port()
    proc = rk.popen("dev", "app.py", "--port", str(port), *DB)

    async def job_ids() -> list[str]:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1") as http:
            for _ in range(200):  # until uvicorn listens
                try:
                    r = await http.get("/jobs", headers={"Authorization": f"Bearer {key}"})
                    return [j["id"] for j in r.json()["data"]]
                except httpx2.ConnectError:
                    await asyncio.sleep(0.05)
        raise AssertionError("relaykit dev did not come back")

    try:
        assert proc.stdout is not None
        assert "dashboard" in proc.stdout.readline()
        proc.stdout.readline()
        assert "extra" not in asyncio.run(job_ids())
        app.write_text(
            source.replace(
                "    return client\n",
                '    client.define_job(id="extra", version="1.0.0", run=lambda p, io, ctx: 1)\n'
                "    return client\n",
            )
        )
        assert "dashboard" in proc.stdout.readline()  # the banner again: it restarted
        assert "one-time login link" in proc.stdout.readline()
        assert "extra" in asyncio.run(job_ids())
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"{app} changed; restarting" in err


# `relaykit serve` as the installed script: exit 2, one line, before any banner.
@pytest.mark.subprocess
def test_serve_refuses_a_port_in_use_in_one_line(rk: Relaykit, tmp_path: Path) -> None:
    app = str(Path(__file__).resolve().parents[1] / "http_app.py")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = rk("serve", app, "--port", str(port), *DB)
    assert done.returncode == 2
    assert done.error_line().startswith(f"relaykit: error: cannot listen on 127.0.0.1:{port}: ")
    assert done.stdout == ""  # no banner, no login link
