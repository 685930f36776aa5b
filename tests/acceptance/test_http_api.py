"""The JSON API under ``/api/v1`` as a client program drives it: httpx2 over the ASGI
transport against the real app on a real SQLite file (one test on PostgreSQL), with a real
worker executing the runs it queues."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from tests.acceptance._shapes import check_component
from tests.http_app import make_client

import relaykit
from relaykit import Client
from relaykit.server import Access

EMPTY_PAGE: dict[str, Any] = {"data": [], "next_cursor": None}

Scenario = Callable[["Api"], Awaitable[None]]


@dataclass
class Api:
    """A served client, an HTTP client on it, and a valid API key's headers."""

    client: Client
    http: httpx2.AsyncClient
    auth: dict[str, str]

    async def work(self) -> None:
        """Execute every runnable run (a real worker, until idle)."""
        await self.client.worker(exit_when_idle=True).run()

    async def runs(self) -> list[dict[str, Any]]:
        """Every run, through the API."""
        r = await self.http.get("/api/v1/runs", params={"limit": 200}, headers=self.auth)
        assert r.status_code == 200, r.text
        data: list[dict[str, Any]] = r.json()["data"]
        return data


@asynccontextmanager
async def serving(database_url: str, *, prefix: str = "") -> AsyncIterator[Api]:
    client = make_client(database_url)
    await client.open()
    key = await Access(client.store, client.clock).create_key("tests")
    app: Any = client.asgi_app()
    if prefix:
        app = Starlette(routes=[Mount(prefix, app=app)])
    transport = httpx2.ASGITransport(app=app)
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Api(client, http, {"Authorization": f"Bearer {key.secret}"})
    finally:
        await client.close()


def run(database_url: str, scenario: Scenario, *, prefix: str = "") -> None:
    async def go() -> None:
        async with serving(database_url, prefix=prefix) as api:
            await scenario(api)

    asyncio.run(go())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'relaykit.db'}"


def _error(response: httpx2.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert message, body
    return message


def test_a_test_run_is_queued_executed_and_shown_with_its_task_tree_and_logs(
    sqlite_url: str,
) -> None:
    async def scenario(api: Api) -> None:
        r = await api.http.post(
            "/api/v1/jobs/hello/runs", json={"payload": {"who": "ada"}}, headers=api.auth
        )
        assert r.status_code == 201, r.text
        queued = r.json()
        assert (queued["status"], queued["is_test"], queued["tasks"]) == ("queued", True, [])
        await api.work()
        r = await api.http.get(f"/api/v1/runs/{queued['id']}", headers=api.auth)
        run = r.json()
        assert run["status"] == "succeeded", run
        assert run["output"] == {"total": 21, "payload": {"who": "ada"}}
        tree = [(t["key"], t["parent"], t["status"], t["output"]) for t in run["tasks"]]
        assert tree == [
            ("outer", None, "completed", 21),
            ("outer/inner", "outer", "completed", 20),
        ]
        assert [(g["level"], g["message"], g["properties"]) for g in run["logs"]] == [
            ("info", "computed", {"total": 21})
        ]

    run(sqlite_url, scenario)


def test_no_key_or_a_wrong_one_is_401_and_changes_nothing(sqlite_url: str) -> None:
    async def scenario(api: Api) -> None:
        attempts: list[dict[str, str]] = [
            {},
            {"Authorization": "Bearer rk_nothere_secret"},
            {"Authorization": api.auth["Authorization"] + "x"},
            {"Authorization": api.auth["Authorization"].replace("Bearer", "Basic")},
        ]
        for headers in attempts:
            r = await api.http.post("/api/v1/jobs/hello/runs", json={}, headers=headers)
            _error(r, 401, "unauthorized")
            assert r.headers["www-authenticate"] == "Bearer"
            r = await api.http.post(
                "/api/v1/events", json={"name": "user.created"}, headers=headers
            )
            _error(r, 401, "unauthorized")
        assert await api.runs() == []
        assert (await api.http.get("/api/v1/events", headers=api.auth)).json() == {
            "data": [],
            "next_cursor": None,
        }

    run(sqlite_url, scenario)


def test_a_revoked_key_is_refused(sqlite_url: str) -> None:
    async def scenario(api: Api) -> None:
        key_id = api.auth["Authorization"].split("_")[1]
        assert await api.client.store.revoke_api_key(key_id, now=api.client.clock.now())
        _error(await api.http.get("/api/v1/jobs", headers=api.auth), 401, "unauthorized")

    run(sqlite_url, scenario)


def test_bad_requests_are_refused_with_a_json_error_and_store_nothing(sqlite_url: str) -> None:
    async def scenario(api: Api) -> None:
        post = api.http.post
        h = {**api.auth, "content-type": "application/json"}
        _error(await post("/api/v1/events", content=b"{nope", headers=h), 400, "malformed_json")
        _error(
            await post("/api/v1/events", content=b'{"name": NaN}', headers=h), 400, "malformed_json"
        )
        msg = _error(
            await post("/api/v1/events", json={"payload": 1}, headers=h), 422, "invalid_body"
        )
        assert "name" in msg
        r = await post("/api/v1/events", json={"name": "x", "bogus": 1}, headers=h)
        assert _error(r, 422, "invalid_body") and r.json()["error"]["details"][0]["loc"] == [
            "bogus"
        ]
        big = {"name": "user.created", "payload": {"blob": "x" * 30_000}}
        _error(await post("/api/v1/events", json=big, headers=h), 413, "payload_too_large")
        # Under the body limit but over max_payload_bytes (4096): refused by the engine.
        over = {"payload": {"blob": "x" * 5000}}
        _error(
            await post("/api/v1/jobs/hello/runs", json=over, headers=h), 413, "payload_too_large"
        )
        _error(await post("/api/v1/jobs/nope/runs", json={}, headers=h), 404, "not_found")
        for path in (
            "/api/v1/runs/run_nope",
            "/api/v1/events/evt_nope",
            "/api/v1/jobs/nope",
            "/api/v1/kv/job/hello/absent",
        ):
            _error(await api.http.get(path, headers=h), 404, "not_found")
        _error(await post("/api/v1/runs/run_nope/cancel", headers=h), 404, "not_found")
        _error(await post("/api/v1/runs/run_nope/replay", headers=h), 404, "not_found")
        _error(await api.http.get("/api/v1/runs?status=nope", headers=h), 422, "invalid_query")
        _error(await api.http.get("/api/v1/runs?limit=0", headers=h), 422, "invalid_query")
        _error(await api.http.get("/api/v1/runs?colour=red", headers=h), 422, "invalid_query")
        assert await api.runs() == []
        assert (await api.http.get("/api/v1/events", headers=h)).json() == {
            "data": [],
            "next_cursor": None,
        }

    run(sqlite_url, scenario)


def test_an_event_starts_the_runs_it_triggers_once_per_id(sqlite_url: str) -> None:
    async def scenario(api: Api) -> None:
        body = {"name": "user.created", "payload": {"email": "a@b.c"}, "id": "signup-1"}
        first = await api.http.post("/api/v1/events", json=body, headers=api.auth)
        assert first.status_code == 201, first.text
        sent = first.json()
        assert (sent["id"], sent["duplicate"], len(sent["runs"])) == ("signup-1", False, 1)
        again = await api.http.post("/api/v1/events", json=body, headers=api.auth)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["runs"] == []
        await api.work()
        r = await api.http.get(f"/api/v1/runs/{sent['runs'][0]}", headers=api.auth)
        assert (r.json()["status"], r.json()["output"]) == ("succeeded", "welcome a@b.c")
        assert r.json()["event_id"] == "signup-1"
        events = (await api.http.get("/api/v1/events", headers=api.auth)).json()["data"]
        assert [(e["id"], e["status"]) for e in events] == [("signup-1", "delivered")]

    run(sqlite_url, scenario)


def test_runs_are_filtered_by_job_and_status_and_paginated(sqlite_url: str) -> None:
    async def scenario(api: Api) -> None:
        ids = []
        for n in range(5):
            r = await api.http.post(
                "/api/v1/jobs/hello/runs", json={"payload": n}, headers=api.auth
            )
            ids.append(r.json()["id"])
        await api.http.post("/api/v1/jobs/remember/runs", headers=api.auth)
        await api.work()
        await api.http.post("/api/v1/jobs/hello/runs", json={"payload": 5}, headers=api.auth)

        async def page(**params: Any) -> dict[str, Any]:
            r = await api.http.get("/api/v1/runs", params=params, headers=api.auth)
            assert r.status_code == 200, r.text
            data: dict[str, Any] = r.json()
            return data

        seen: list[str] = []
        cursor: dict[str, str] = {}
        while True:
            got = check_component(
                await page(job="hello", status="succeeded", limit=2, **cursor), "RunPage"
            )
            assert len(got["data"]) <= 2
            seen += [r["id"] for r in got["data"]]
            if got["next_cursor"] is None:
                break
            cursor = {"cursor": got["next_cursor"]}
            # a run queued while the client walks the pages is newer than every cursor
            await api.http.post("/api/v1/jobs/hello/runs", json={"payload": 7}, headers=api.auth)
        assert seen == list(reversed(ids))  # newest first, every run exactly once
        queued = await page(status="queued")
        assert {r["payload"] for r in queued["data"]} == {5, 7}
        assert [r["job"] for r in (await page(job="remember"))["data"]] == ["remember"]
        for bad in ("garbage", "e1733160000.5_run_1", "r1.5_", "r1_a\x00"):
            r = await api.http.get("/api/v1/runs", params={"cursor": bad}, headers=api.auth)
            assert r.status_code == 400, r.text
            error = check_component(r.json(), "ErrorBody")["error"]
            assert error["code"] == "invalid_cursor" and "\n" not in error["message"]
        r = await api.http.get("/api/v1/events", params={"cursor": "x"}, headers=api.auth)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_cursor")
        # the API's run is the shape the OpenAPI document names
        check_component(
            (await api.http.get(f"/api/v1/runs/{ids[0]}", headers=api.auth)).json(), "RunDetail"
        )

    run(sqlite_url, scenario)


def test_cancel_a_waiting_run_then_replay_it(sqlite_url: str) -> None:
    async def scenario(api: Api) -> None:
        r = await api.http.post("/api/v1/jobs/waiter/runs", json={}, headers=api.auth)
        run_id = r.json()["id"]
        await api.work()
        assert (await api.http.get(f"/api/v1/runs/{run_id}", headers=api.auth)).json()[
            "status"
        ] == "waiting"
        r = await api.http.post(f"/api/v1/runs/{run_id}/cancel", headers=api.auth)
        assert r.status_code == 200 and r.json()["status"] == "canceled", r.text
        _error(
            await api.http.post(f"/api/v1/runs/{run_id}/cancel", headers=api.auth), 409, "run_ended"
        )
        r = await api.http.post(f"/api/v1/runs/{run_id}/replay", headers=api.auth)
        assert r.status_code == 201, r.text
        new = r.json()
        assert (new["job"], new["status"], new["id"] != run_id) == ("waiter", "queued", True)
        # a replay is the same operation on every surface: a test run stays a test run
        assert new["is_test"] is True

    run(sqlite_url, scenario)


def test_a_runs_tasks_carry_their_attempt_history_and_busy_duration(sqlite_url: str) -> None:
    async def scenario(api: Api) -> None:
        @api.client.define_job(id="flaky", version="1.0.0")
        async def flaky(payload: Any, io: relaykit.IO, ctx: relaykit.Context) -> str:
            def call() -> str:
                if relaykit.current_task().attempt == 1:
                    raise ConnectionError("refused")
                return "answered"

            retry = relaykit.Retry(limit=3, min_timeout=0.5, randomize=False)
            return str(await io.run_task("call", call, retry=retry))

        r = await api.http.post("/api/v1/jobs/flaky/runs", json={}, headers=api.auth)
        run_id = r.json()["id"]
        for _ in range(100):  # the worker exits while the retry is not due yet
            await api.work()
            got = (await api.http.get(f"/api/v1/runs/{run_id}", headers=api.auth)).json()
            if got["status"] not in ("queued", "running", "waiting"):
                break
            await asyncio.sleep(0.05)
        check_component(got, "RunDetail")
        assert got["status"] == "succeeded", got
        [task] = got["tasks"]
        history = task["attempt_history"]
        assert [(a["attempt"], a["error"] and a["error"]["message"]) for a in history] == [
            (1, "refused"),
            (2, None),
        ]
        assert task["duration_ms"] < 250  # the function's time, not the 0.5 s back-off

    run(sqlite_url, scenario)


def test_a_database_locked_past_its_timeout_is_a_json_503(tmp_path: Path) -> None:
    path = tmp_path / "relaykit.db"
    locker_source = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(2)\n"
        "c.execute('COMMIT')\n"
    )

    async def scenario(api: Api) -> None:
        locker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", locker_source, str(path), stdout=asyncio.subprocess.PIPE
        )
        assert locker.stdout is not None
        assert (await locker.stdout.readline()).strip() == b"locked"
        r = await api.http.post(
            "/api/v1/events", json={"name": "user.created", "payload": {}}, headers=api.auth
        )
        await locker.communicate()
        message = _error(r, 503, "store_unavailable")
        assert "locked" in message and str(path) in message
        assert r.headers["retry-after"] == "5"
        r = await api.http.get("/api/v1/events", headers=api.auth)  # the lock is gone
        assert r.status_code == 200 and r.json()["data"] == [], r.text

    run(f"sqlite:///{path}?synchronous=normal&busy_timeout=200", scenario)


def test_key_value_entries_set_over_http_are_what_runs_read(sqlite_url: str) -> None:
    async def scenario(api: Api) -> None:
        url = "/api/v1/kv/job/remember/greeting"
        r = await api.http.put(url, json={"value": {"hi": ["there", 1]}}, headers=api.auth)
        assert r.json() == {
            "namespace": "job",
            "owner": "remember",
            "name": "greeting",
            "value": {"hi": ["there", 1]},
        }
        assert (await api.http.get(url, headers=api.auth)).json()["value"] == {"hi": ["there", 1]}
        r = await api.http.post("/api/v1/jobs/remember/runs", headers=api.auth)
        await api.work()
        done = await api.http.get(f"/api/v1/runs/{r.json()['id']}", headers=api.auth)
        assert done.json()["output"] == {"hi": ["there", 1]}
        assert (await api.http.delete(url, headers=api.auth)).status_code == 204
        _error(await api.http.get(url, headers=api.auth), 404, "not_found")
        _error(await api.http.get("/api/v1/kv/team/x/y", headers=api.auth), 404, "not_found")

    run(sqlite_url, scenario)


def test_the_openapi_document_describes_every_route(sqlite_url: str) -> None:
    async def scenario(api: Api) -> None:
        doc = (await api.http.get("/relaykit/api/v1/openapi.json")).json()
        assert doc["openapi"].startswith("3.1")
        assert doc["servers"] == [{"url": "/relaykit/api/v1"}]
        operations = {
            (method.upper(), path)
            for path, item in doc["paths"].items()
            for method in item
            if method != "parameters"
        }
        assert operations == {
            ("POST", "/events"),
            ("GET", "/events"),
            ("GET", "/events/{event_id}"),
            ("GET", "/jobs"),
            ("GET", "/jobs/{job_id}"),
            ("POST", "/jobs/{job_id}/runs"),
            ("GET", "/runs"),
            ("GET", "/runs/{run_id}"),
            ("POST", "/runs/{run_id}/cancel"),
            ("POST", "/runs/{run_id}/replay"),
            ("POST", "/runs/{run_id}/retry"),
            ("POST", "/runs/bulk"),
            ("GET", "/tokens"),
            ("GET", "/tokens/{token_id}"),
            ("POST", "/tokens/{token_id}/complete"),
            ("GET", "/runs/stream"),
            ("GET", "/runs/{run_id}/stream"),
            ("GET", "/kv/{namespace}/{owner}/{name}"),
            ("PUT", "/kv/{namespace}/{owner}/{name}"),
            ("DELETE", "/kv/{namespace}/{owner}/{name}"),
        }
        # Mounted under a prefix, the API answers there.
        r = await api.http.get("/relaykit/api/v1/jobs", headers=api.auth)
        assert [j["id"] for j in r.json()["data"]] == [
            "hello",
            "slow",
            "waiter",
            "welcome",
            "remember",
        ]

    run(sqlite_url, scenario, prefix="/relaykit")


def test_the_api_on_postgresql(postgres_url: str) -> None:
    async def scenario(api: Api) -> None:
        r = await api.http.post("/api/v1/jobs/hello/runs", json={"payload": 1}, headers=api.auth)
        assert r.status_code == 201, r.text
        await api.work()
        done = (await api.http.get(f"/api/v1/runs/{r.json()['id']}", headers=api.auth)).json()
        assert (done["status"], done["output"]["total"]) == ("succeeded", 21)
        assert [t["key"] for t in done["tasks"]] == ["outer", "outer/inner"]
        page = (await api.http.get("/api/v1/runs?limit=1", headers=api.auth)).json()
        assert page["next_cursor"] is None and page["data"][0]["id"] == done["id"]
        r = await api.http.put("/api/v1/kv/env/development/k", json={"value": 3}, headers=api.auth)
        assert r.status_code == 200
        _error(await api.http.get("/api/v1/jobs", headers={}), 401, "unauthorized")

    run(postgres_url, scenario)


def test_import_relaykit_does_not_load_the_http_stack() -> None:
    code = (
        "import sys, relaykit, relaykit.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn', 'jinja2'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.replace("'", '"')) == []
