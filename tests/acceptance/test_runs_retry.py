"""Retrying a run from where it stopped, as users drive it: ``relaykit runs retry`` in a
subprocess and ``POST /api/v1/runs/{id}/retry`` on the real ASGI app, both on a real SQLite
file with a real worker. Side effects are counted in a file: a kept task never runs again."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tests.acceptance.conftest import app_client, authorized_api

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

APP = textwrap.dedent(
    """
    from pathlib import Path
    from typing import Any
    from relaykit import Client, NonRetriable

    client = Client(id="retry-app")

    def effect(name: str) -> None:
        with open("side-effects.log", "a", encoding="utf-8") as f:
            f.write(name + "\\n")

    @client.define_job(id="order", name="Order", version="1.0.0")
    async def order(payload: Any, io, ctx) -> Any:
        def reserve() -> str:
            effect("reserve")
            return "R-1"

        def charge() -> int:
            effect("charge")
            if Path("card-declined").exists():
                raise NonRetriable("card declined")
            return payload["amount"]

        def ship() -> str:
            effect("ship")
            return "shipped"

        reservation = await io.run_task("reserve", reserve)
        await io.store.run.set("note", "reservation", reservation)
        charged = await io.run_task("charge", charge)
        shipped = await io.run_task("ship", ship)
        return {"reservation": reservation, "charged": charged, "shipped": shipped}
    """
)
DB = ("--database", "sqlite:///relaykit.db")


def _failed_order(rk: Relaykit, tmp_path: Path) -> str:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    (tmp_path / "card-declined").touch()
    run = rk.run_json("app.py", "order", {"amount": 40}).run_object(exit_code=1)
    assert run["status"] == "failed", run
    assert rk.side_effects() == ["reserve", "charge"]
    (tmp_path / "card-declined").unlink()
    return str(run["id"])


@pytest.mark.subprocess
def test_runs_retry_resumes_a_failed_run_where_it_stopped(rk: Relaykit, tmp_path: Path) -> None:
    old = _failed_order(rk, tmp_path)

    done = rk("runs", "retry", old, *DB)
    assert done.returncode == 0, done.describe()
    new = done.stdout.strip()
    assert new.startswith("run_") and new != old
    rk.worker_until_idle("app.py")

    retried = rk.show(new)
    assert retried["status"] == "succeeded", retried
    assert (retried["retry_of"], rk.show(old)["retry_of"]) == (old, None)
    assert f"retry of: {old}" in rk("runs", "show", new, *DB).stdout
    assert retried["output"] == {"reservation": "R-1", "charged": 40, "shipped": "shipped"}
    # reserve (and the store write) replayed from the copy; charge and ship ran
    assert rk.side_effects() == ["reserve", "charge", "charge", "ship"]
    assert [t["key"] for t in retried["tasks"]] == ["reserve", "note", "charge", "ship"]
    # the failed run's history and error stay as they were
    original = rk.show(old)
    assert original["status"] == "failed"
    assert "card declined" in original["error"]["message"]
    assert [(t["key"], t["status"]) for t in original["tasks"]] == [
        ("reserve", "completed"),
        ("note", "completed"),
        ("charge", "errored"),
    ]

    # fork the succeeded retry from "charge" with an edited payload
    fork = rk("runs", "retry", new, "--from-task", "charge", "--payload", '{"amount": 55}', *DB)
    assert fork.returncode == 0, fork.describe()
    rk.worker_until_idle("app.py")
    forked = rk.show(fork.stdout.strip())
    assert forked["output"] == {"reservation": "R-1", "charged": 55, "shipped": "shipped"}
    assert forked["payload"] == {"amount": 55}
    assert rk.side_effects()[4:] == ["charge", "ship"]


def test_runs_retry_refuses_what_it_cannot_retry_in_one_line(rk: Relaykit, tmp_path: Path) -> None:
    old = _failed_order(rk, tmp_path)
    ok = rk.run_json("app.py", "order", {"amount": 1}).run_object(exit_code=0)

    assert "no run 'run_nope'" in rk("runs", "retry", "run_nope", *DB).error_line()
    succeeded = rk("runs", "retry", ok["id"], *DB).error_line()
    assert "succeeded" in succeeded and "--from-task" in succeeded
    unknown = rk("runs", "retry", old, "--from-task", "nope", *DB).error_line()
    assert "no task 'nope'" in unknown and "'reserve'" in unknown
    bad = rk("runs", "retry", old, "--payload", "{x", *DB).error_line()
    assert "--payload is not valid JSON" in bad
    # nothing was queued by the refusals
    listed = rk("runs", "list", "--json", *DB).json()["data"]
    assert {r["id"] for r in listed} == {old, ok["id"]}


def test_the_http_api_retries_and_forks_a_run(
    rk: Relaykit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _failed_order(rk, tmp_path)
    ok = rk.run_json("app.py", "order", {"amount": 1}).run_object(exit_code=0)
    client = app_client(tmp_path, monkeypatch)  # the app's tasks write their side effects here

    async def go() -> dict[str, Any]:
        async with authorized_api(client) as (http, auth):
            out: dict[str, Any] = {}
            r = await http.post(f"/api/v1/runs/{old}/retry", headers=auth)
            assert r.status_code == 201, r.text
            out["queued"] = r.json()
            r = await http.post(
                f"/api/v1/runs/{old}/retry",
                json={"from_task": "charge", "payload": {"amount": 9}},
                headers=auth,
            )
            assert r.status_code == 201, r.text
            out["fork"] = r.json()["id"]
            out["errors"] = [
                (r.status_code, r.json()["error"]["code"])
                for r in [
                    await http.post("/api/v1/runs/run_nope/retry", headers=auth),
                    await http.post(f"/api/v1/runs/{ok['id']}/retry", headers=auth),
                    await http.post(
                        f"/api/v1/runs/{old}/retry", json={"from_task": "x"}, headers=auth
                    ),
                    await http.post(f"/api/v1/runs/{old}/retry", json={"extra": 1}, headers=auth),
                    await http.post(f"/api/v1/runs/{old}/retry"),
                ]
            ]
            await client.worker(exit_when_idle=True).run()
            for name in ("queued", "fork"):
                run_id = out[name]["id"] if name == "queued" else out[name]
                r = await http.get(f"/api/v1/runs/{run_id}", headers=auth)
                out[f"{name}_done"] = r.json()
            return out

    got = asyncio.run(go())
    queued = got["queued"]
    assert queued["status"] == "queued"
    assert [(t["key"], t["status"]) for t in queued["tasks"]] == [
        ("reserve", "completed"),
        ("note", "completed"),
    ]
    assert got["errors"] == [
        (404, "not_found"),
        (409, "not_retriable"),
        (422, "unknown_task"),
        (422, "invalid_body"),
        (401, "unauthorized"),
    ]
    assert got["queued_done"]["output"]["charged"] == 40
    assert got["fork_done"]["output"]["charged"] == 9
    assert rk.side_effects().count("reserve") == 2  # the first run and the succeeded one only
