"""Bulk actions and edited replays as users drive them: ``relaykit runs bulk`` and
``relaykit runs replay --payload`` in a subprocess, ``POST /api/v1/runs/bulk`` and
``POST /api/v1/runs/{id}/replay`` on the real ASGI app, all on a real SQLite file with a real
worker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tests.acceptance.conftest import app_client, authorized_api

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

APP = textwrap.dedent(
    """
    from typing import Any
    from relaykit import Client, NonRetriable

    client = Client(id="bulk-app")

    @client.define_job(id="order", name="Order", version="1.0.0")
    async def order(payload: Any, io, ctx) -> Any:
        def charge() -> int:
            if payload["amount"] < 0:
                raise NonRetriable("negative amount")
            return payload["amount"]

        return {"charged": await io.run_task("charge", charge)}

    @client.define_job(id="other", name="Other", version="2.0.0")
    async def other(payload: Any, io, ctx) -> Any:
        return "ok"
    """
)
DB = ("--database", "sqlite:///relaykit.db")


def _bulk(rk: Relaykit, *args: str) -> dict[str, Any]:
    done = rk("runs", "bulk", *args, "--json", *DB)
    assert done.returncode == 0, done.describe()
    result: dict[str, Any] = done.json()
    return result


def _statuses(rk: Relaykit) -> dict[str, str]:
    return {r["id"]: r["status"] for r in rk.list_runs()}


@pytest.mark.subprocess
def test_runs_bulk_counts_confirms_and_acts_once_per_run(rk: Relaykit, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    orders = [rk.detach("app.py", "order", {"amount": n}) for n in (1, 2, 3)]
    other = rk.detach("app.py", "other")

    dry = _bulk(rk, "cancel", "--job", "order", "--dry-run")
    assert (dry["matched"], dry["done"], dry["dry_run"]) == (3, 0, True)
    assert set(dry["sample"]) == set(orders) and dry["cap"] == 10_000
    # without --yes on a non-terminal stdin: the count, then a refusal; nothing changes
    asked = rk("runs", "bulk", "cancel", "--job", "order", *DB).error_line()
    assert "3 runs match" in asked and "pass --yes" in asked
    assert set(_statuses(rk).values()) == {"queued"}

    done = _bulk(rk, "cancel", "--job", "order", "--yes")
    assert (done["matched"], done["done"], done["skipped"]) == (3, 3, {})
    statuses = _statuses(rk)
    assert [statuses[r] for r in orders] == ["canceled"] * 3
    assert statuses[other] == "queued"
    again = _bulk(rk, "cancel", "--job", "order", "--yes")
    assert (again["done"], again["skipped"]) == (0, {"already ended": 3})

    # an until before every run matches none; the plain-text summary says so
    empty = rk("runs", "bulk", "retry", "--until", "2000-01-01", "--yes", *DB)
    assert empty.returncode == 0 and "0 runs matched, 0 retried" in empty.stdout, empty.describe()

    retried = _bulk(rk, "retry", "--status", "canceled", "--yes")
    assert (retried["matched"], retried["done"], len(retried["new_runs"])) == (3, 3, 3)
    replayed = _bulk(rk, "replay", "--job", "other", "--version", "2.0.0", "--yes")
    assert (replayed["done"], len(replayed["new_runs"])) == (1, 1)
    rk.worker_until_idle("app.py")
    outputs = sorted(rk.show(r)["output"]["charged"] for r in retried["new_runs"])
    assert outputs == [1, 2, 3]
    assert rk.show(replayed["new_runs"][0])["output"] == "ok"
    # a retry of succeeded runs skips each one, saying why
    skipped = _bulk(rk, "retry", "--job", "order", "--status", "succeeded", "--yes")
    assert skipped["skipped"] == {"succeeded: not failed, canceled or timed out": 3}
    assert len(rk.list_runs()) == 8


@pytest.mark.subprocess
def test_runs_replay_with_an_edited_payload(rk: Relaykit, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    old = rk.run_json("app.py", "order", {"amount": -1}).run_object(exit_code=1)["id"]
    (tmp_path / "fixed.json").write_text('{"amount": 7}', encoding="utf-8")

    bad = rk("runs", "replay", old, "--payload", '{"amount": ', *DB).error_line()
    assert "--payload is not valid JSON" in bad
    assert len(rk.list_runs()) == 1  # the refusal queued nothing

    new = rk("runs", "replay", old, "--payload", "@fixed.json", *DB)
    assert new.returncode == 0, new.describe()
    # a prefix of the id (ids begin with their creation time, so a short prefix is shared by
    # the replays made within the same moment: this one keeps part of the random end)
    prefix = old[:-6]
    piped = rk("runs", "replay", prefix, "--payload", "-", "--json", *DB, input='{"amount": 8}')
    assert piped.returncode == 0, piped.describe()
    assert piped.json()["payload"] == {"amount": 8}
    rk.worker_until_idle("app.py")
    assert rk.show(new.stdout.strip())["output"] == {"charged": 7}
    assert rk.show(piped.json()["id"])["output"] == {"charged": 8}
    assert rk.show(old)["payload"] == {"amount": -1}  # the old run is as it was


def test_the_http_api_bulk_and_edited_replay(
    rk: Relaykit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    failed = rk.run_json("app.py", "order", {"amount": -5}).run_object(exit_code=1)["id"]
    queued = [rk.detach("app.py", "other") for _ in range(2)]
    client = app_client(tmp_path, monkeypatch)

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with authorized_api(client) as (http, auth):

            async def bulk(body: Any, headers: dict[str, str] = auth) -> tuple[int, Any]:
                r = await http.post("/api/v1/runs/bulk", json=body, headers=headers)
                return r.status_code, r.json()

            out["dry"] = await bulk(
                {"action": "cancel", "filters": {"job": "other"}, "dry_run": True}
            )
            out["cancel"] = await bulk({"action": "cancel", "filters": {"job": "other"}})
            out["future"] = await bulk(
                {"action": "retry", "filters": {"since": time.time() + 3600}}
            )
            out["bad"] = [
                (await bulk(b))[0]
                for b in (
                    {"action": "delete"},
                    {"action": "cancel", "filters": {"status": "nope"}},
                    {"action": "cancel", "filters": {"since": "yesterday"}},
                )
            ]
            out["anonymous"] = (await bulk({"action": "cancel"}, {}))[0]
            r = await http.post(
                f"/api/v1/runs/{failed}/replay", json={"payload": {"amount": 4}}, headers=auth
            )
            out["replay"] = (r.status_code, r.json())
            r = await http.post(f"/api/v1/runs/{failed}/replay", headers=auth)
            out["plain"] = (r.status_code, r.json())
            await client.worker(exit_when_idle=True).run()
            for name in ("replay", "plain"):
                r = await http.get(f"/api/v1/runs/{out[name][1]['id']}", headers=auth)
                out[f"{name}_done"] = r.json()
            return out

    got = asyncio.run(go())
    status, dry = got["dry"]
    assert status == 200 and (dry["matched"], dry["done"]) == (2, 0)
    assert set(dry["sample"]) == set(queued)
    status, canceled = got["cancel"]
    assert status == 200 and (canceled["matched"], canceled["done"]) == (2, 2)
    assert got["future"][1]["matched"] == 0
    assert got["bad"] == [422, 422, 422]
    assert got["anonymous"] == 401
    assert got["replay"][0] == 201 and got["replay"][1]["payload"] == {"amount": 4}
    assert got["replay_done"]["output"] == {"charged": 4}
    assert got["plain"][1]["payload"] == {"amount": -5}
    assert got["plain_done"]["status"] == "failed"
    assert {s for r, s in _statuses(rk).items() if r in queued} == {"canceled"}


@pytest.mark.subprocess
def test_runs_bulk_asks_on_a_terminal_and_acts_only_on_yes(rk: Relaykit, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    runs = [rk.detach("app.py", "other") for _ in range(2)]

    def answer(reply: str) -> tuple[int, str]:
        primary, secondary = os.openpty()  # stdin is a terminal, as a person's is
        os.write(primary, reply.encode())  # typed ahead: the prompt reads it
        try:
            done = subprocess.run(
                [str(rk.exe), "runs", "bulk", "cancel", "--job", "other", *DB],
                cwd=tmp_path,
                env=rk._env(None),
                stdin=secondary,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            os.close(secondary)
            os.close(primary)
        return done.returncode, done.stdout + done.stderr

    code, said = answer("n\n")
    assert code == 2 and "2 runs match" in said and "cancel 2 runs?" in said, said
    assert {s for r, s in _statuses(rk).items() if r in runs} == {"queued"}
    code, said = answer("y\n")
    assert code == 0 and "2 runs matched, 2 canceled" in said, said
    assert {s for r, s in _statuses(rk).items() if r in runs} == {"canceled"}
