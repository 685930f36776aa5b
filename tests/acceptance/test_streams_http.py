"""The realtime streams as a client program reads them: a real ``relaykit serve`` process on a
real SQLite file and on PostgreSQL, httpx2 reading ``text/event-stream``, runs queued by the
CLI in another process and executed by a ``relaykit worker`` in a third."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from tests.acceptance.conftest import Relaykit
from tests.browser.conftest import _wait_for_port
from tests.http_app import make_client
from tests.serving import free_port, uvicorn_thread

from relaykit.server import Access

APP = str(Path(__file__).resolve().parents[1] / "http_app.py")


@dataclass
class Served:
    url: str
    db: str
    auth: dict[str, str]
    proc: subprocess.Popen[str]


@pytest.fixture
def served(rk: Relaykit, db_url: str) -> Iterator[Served]:
    """``relaykit serve --no-worker`` on a SQLite file, then on PostgreSQL (runs stay queued
    until a worker process comes)."""
    db = db_url

    async def make_key() -> str:
        client = make_client(db)
        async with client:
            return (await Access(client.store, client.clock).create_key("stream")).secret

    secret = asyncio.run(make_key())
    port = free_port()
    proc = rk.popen("serve", APP, "--port", str(port), "--no-worker", "--database", db)
    try:
        _wait_for_port(port, proc)
        yield Served(f"http://127.0.0.1:{port}", db, {"Authorization": f"Bearer {secret}"}, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=30)


def events(response: httpx2.Response) -> Iterator[dict[str, Any]]:
    """The server-sent events of a response: ``{"event", "id", "data"}`` each; comments
    (keep-alives) and the ``retry`` field are skipped."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "event" in fields:
                yield {
                    "event": fields["event"],
                    "id": fields.get("id"),
                    "data": json.loads(fields["data"]),
                }
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def _label(event: dict[str, Any]) -> str:
    data = event["data"]
    if event["event"] == "metadata":
        return f"metadata {data['tags']} {data['metadata']}"
    if event["event"] == "task":
        return f"task {data['key']} {data['status']}"
    return f"{event['event']} {data['status']}"


def test_a_run_stream_shows_queued_running_tasks_and_success_as_they_happen(
    rk: Relaykit, served: Served
) -> None:
    timeout = httpx2.Timeout(30.0)
    with httpx2.Client(base_url=served.url, headers=served.auth, timeout=timeout) as http:
        with http.stream("GET", "/api/v1/runs/stream", params={"job": "slow"}) as listing:
            assert listing.status_code == 200
            assert listing.headers["content-type"].startswith("text/event-stream")
            page = events(listing)
            # queued by the CLI, in another process
            run_id = rk.detach(APP, "slow", {"seconds": 1.0}, db=("--database", served.db))
            first = next(page)
            assert (first["event"], first["data"]["id"]) == ("run", run_id)
            assert first["data"]["status"] == "queued"

            with http.stream("GET", f"/api/v1/runs/{run_id}/stream") as one:
                assert one.status_code == 200
                seen = events(one)
                got = [next(seen)]
                assert _label(got[0]) == "run queued"
                worker = rk.popen("worker", APP, "--exit-when-idle", "--database", served.db)
                got += list(seen)  # until the stream ends with the run
                _, err = worker.communicate(timeout=60)
                assert worker.returncode == 0, err
            labels = [_label(e) for e in got]
            # a task may also be seen while it runs; every completed state arrives in order
            settled = [lab for lab in labels if not lab.endswith(" running") or "run " in lab]
            assert settled == [
                "run queued",
                "metadata [] {}",
                "run running",
                "task first completed",
                "task second completed",
                "run succeeded",
                "end succeeded",
            ], labels
            assert got[-1]["data"]["output"] == "second done"

            # the list stream saw the run end too
            later = [next(page)]
            while later[-1]["data"]["status"] != "succeeded":
                later.append(next(page))
            assert {e["data"]["id"] for e in later} == {run_id}

        # reconnecting with the last id seen: nothing is repeated, only the end
        headers = {"Last-Event-ID": got[-1]["id"]}
        with http.stream("GET", f"/api/v1/runs/{run_id}/stream", headers=headers) as again:
            assert [e["event"] for e in events(again)] == ["end"]
        # without it: the whole run again
        with http.stream("GET", f"/api/v1/runs/{run_id}/stream") as fresh:
            assert [_label(e) for e in events(fresh)] == [
                "run succeeded",
                "task first completed",
                "task second completed",
                "metadata [] {}",
                "end succeeded",
            ]


def test_a_stream_without_a_valid_key_is_401_and_an_unknown_run_404(served: Served) -> None:
    with httpx2.Client(base_url=served.url, timeout=30.0) as http:
        for path in ("/api/v1/runs/stream", "/api/v1/runs/run_nope/stream"):
            r = http.get(path)
            assert r.status_code == 401, path
            assert r.json()["error"]["code"] == "unauthorized"
            wrong = http.get(path, headers={"Authorization": "Bearer rk_abc_wrong"})
            assert wrong.status_code == 401
        r = http.get("/api/v1/runs/run_nope/stream", headers=served.auth)
        assert r.status_code == 404 and "run_nope" in r.json()["error"]["message"]
        r = http.get("/api/v1/runs/stream?status=sleeping", headers=served.auth)
        assert r.status_code == 422 and "status" in r.json()["error"]["message"]
        # HEAD answers the headers at once (a list stream's body never ends)
        r = http.head("/api/v1/runs/stream", headers=served.auth)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")


def test_serve_stops_promptly_with_streams_open(rk: Relaykit, served: Served) -> None:
    run_id = rk.detach(APP, "waiter", db=("--database", served.db))
    with httpx2.Client(base_url=served.url, headers=served.auth, timeout=30.0) as http:
        with (
            http.stream("GET", f"/api/v1/runs/{run_id}/stream") as one,
            http.stream("GET", "/api/v1/runs/stream") as listing,
        ):
            one_events, listing_events = events(one), events(listing)
            assert _label(next(one_events)) == "run queued"
            assert _label(next(one_events)) == "metadata [] {}"
            assert next(listing_events)["data"]["id"] == run_id
            started = time.monotonic()
            served.proc.send_signal(signal.SIGTERM)
            assert served.proc.wait(timeout=10) == 0
            stopped = time.monotonic() - started
            # both streams ended cleanly (no error reading them to the end)
            assert list(one_events) == [] and list(listing_events) == []
    assert stopped < 3.0, f"relaykit serve took {stopped:.1f} s to stop with streams open"


def test_a_client_that_goes_away_ends_its_subscription(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'relaykit.db'}"
    client = make_client(db)

    async def prepare() -> tuple[str, str]:
        async with client:
            key = await Access(client.store, client.clock).create_key("stream")
            run = await (await client.operations()).test_run("waiter", None)
            return key.secret, run.id

    secret, run_id = asyncio.run(prepare())
    auth = {"Authorization": f"Bearer {secret}"}
    with (
        uvicorn_thread(client.asgi_app()) as base,
        httpx2.Client(base_url=base, headers=auth, timeout=30.0) as http,
    ):
        for path in (f"/api/v1/runs/{run_id}/stream", "/api/v1/runs/stream"):
            with http.stream("GET", path) as response:
                seen = events(response)  # (a dropped generator would close the response)
                assert next(seen)["data"]["id"] == run_id
                assert client.changes.subscribers == 1
            deadline = time.monotonic() + 5
            while client.changes.subscribers and time.monotonic() < deadline:
                time.sleep(0.02)
            assert client.changes.subscribers == 0, path
        client.changes.close()  # lets the server stop (as relaykit serve does)
