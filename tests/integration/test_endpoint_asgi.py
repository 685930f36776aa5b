"""Endpoint mode in one process: relaykit's engine on a real SQLite file and a real
PostgreSQL database drives the example app's ``client.endpoint()`` through httpx2's ASGI
transport (the wire, signatures and commits are the real ones; only the socket is missing:
tests/acceptance/test_endpoint.py has the real servers in their own processes)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from examples.endpoint import app as shop
from tests.pg import Backend
from tests.serving import uvicorn_thread

from relaykit import Client, RunResult
from relaykit._base.signing import Signer
from relaykit.engine.remote import RemoteEndpoint
from relaykit.errors import EndpointError
from relaykit.server import _endpoint as endpoint_server

SECRET = "an-endpoint-secret-for-tests-0123456789"


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "effects.log"
    monkeypatch.setenv("SHOP_EFFECTS", str(path))
    return path


def _remote(app: Any) -> RemoteEndpoint:
    return RemoteEndpoint("http://shop/", secret=SECRET, transport=httpx2.ASGITransport(app=app))


def test_a_run_with_a_retry_completes_and_each_effect_happens_once(
    backend: Backend, effects: Path
) -> None:
    asyncio.run(_run_with_a_retry(backend.url, effects))


async def _run_with_a_retry(url: str, effects: Path) -> None:
    remote = _remote(shop.client.endpoint(secret=SECRET))
    client_id, jobs = await remote.describe()
    assert client_id == "shop"
    assert [(j.id, j.version, j.fingerprint) for j in jobs] == [
        ("fulfil-order", "1.0.0", shop.fulfil_order.fingerprint)
    ]
    relay = Client(id=client_id, database_url=url)
    # as if the app was redeployed since it described its jobs: the run records the code of
    # the deploy that ran it, which the endpoint reports with each attempt
    relay.add_remote_jobs([dataclasses.replace(jobs[0], fingerprint="described-before")])
    try:
        result = await relay.run("fulfil-order", {"order": "A-1", "items": 2})
        code = await relay.store.get_run_code(result.id)
    finally:
        await relay.close()
        await remote.aclose()
    assert result.status == "succeeded", result.error
    assert result.output == {"charged": 20, "reservation": "reserved-A-1"}
    assert effects.read_text().splitlines() == [  # noqa: ASYNC240 -- a test, after the run
        "charge A-1",
        "reserve A-1 attempt 1",
        "reserve A-1 attempt 2",
        "pack A-1 0",
        "pack A-1 1",
        "email A-1",
    ]
    # the first request ran up to the retry delay, the second replayed and finished
    assert remote.requests == 1 + 2
    assert [log.message for log in result.logs] == ["fulfilling"]
    assert code == shop.fulfil_order.fingerprint


def test_a_run_on_a_newer_version_than_the_deploy_is_refused(effects: Path) -> None:
    asyncio.run(_newer_version(effects))


async def _newer_version(effects: Path) -> None:
    app = shop.client.endpoint(secret=SECRET)
    signer = Signer(SECRET.encode())
    run = {
        "id": "run_1",
        "job_id": "fulfil-order",
        "job_version": "2.0.0",
        "status": "running",
        "payload": json.dumps({"order": "A-2", "items": 1}),
        "created_at": 1.0,
    }
    body = json.dumps({"protocol": 1, "action": "execute", "run": run}).encode()
    headers = signer.sign_request(body)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as http:
        response = await http.post("http://shop/", content=body, headers=headers)
        unsigned = await http.post("http://shop/", content=body)
    assert response.status_code == 409
    line = signer.verify_line(headers["x-relaykit-signature"], 0, response.content)
    refusal = json.loads(line)
    assert refusal["reason"] == "version_mismatch"
    assert "2.0.0" in refusal["message"] and "1.0.0" in refusal["message"]
    assert unsigned.status_code == 401
    assert "not signed" in unsigned.json()["error"]
    assert not effects.exists(), "nothing ran"  # noqa: ASYNC240 -- a test, after the requests


def test_a_stale_attempts_answer_is_refused_by_the_epoch(backend: Backend, effects: Path) -> None:
    asyncio.run(_stale_attempt(backend.url))


async def _stale_attempt(url: str) -> None:
    remote = _remote(shop.client.endpoint(secret=SECRET))
    _, jobs = await remote.describe()
    relay = Client(id="shop", database_url=url)
    relay.add_remote_jobs(jobs)
    try:
        store = await relay.open()
        run_id = await relay.enqueue("fulfil-order", {"order": "A-3", "items": 1})
        now = relay.clock.now()
        (first,) = await store.claim_runs(
            owner="a", now=now, lease_until=now + 1, limit=1, job_ids=["fulfil-order"]
        )
        # the first claim's lease runs out and another process claims the run: a new epoch
        (second,) = await store.claim_runs(
            owner="b", now=now + 5, lease_until=now + 60, limit=1, job_ids=["fulfil-order"]
        )
        assert second.epoch == first.epoch + 1
        outcome = await remote.attempt(
            first, recorded=[], log_keys=set(), event_matches=[], store=store
        )
        assert outcome.lease_lost
        assert await store.load_tasks(run_id) == [], "the stale answer wrote nothing"
        run = await store.get_run(run_id)
        assert run is not None and run.lease_owner == "b" and run.status == "running"
    finally:
        await relay.close()
        await remote.aclose()


events = Client(id="waiter")


@events.define_job(id="approval", version="1.0.0")
async def approval(payload: Any, io: Any, ctx: Any) -> Any:
    decision = await io.wait_for_event("decision", "approval.decided", timeout=60)
    return await io.run_task("apply", lambda: {"applied": decision["payload"]["ok"]})


def test_wait_for_event_resolves_across_requests(backend: Backend) -> None:
    asyncio.run(_wait_for_event(backend.url))


async def _wait_for_event(url: str) -> None:
    remote = _remote(events.endpoint(secret=SECRET))
    _, jobs = await remote.describe()
    relay = Client(id="waiter", database_url=url)
    relay.add_remote_jobs(jobs)
    try:
        run_id = await relay.enqueue("approval", None)
        worker = relay.worker(exit_when_idle=True)
        await worker.run()  # the first attempt registers the wait; nothing else is due
        waiting = await relay.get_run(run_id)
        assert waiting.status == "waiting"
        await relay.send_event("approval.decided", {"ok": True})
        await relay.worker(exit_when_idle=True).run()
        done = await relay.get_run(run_id)
    finally:
        await relay.close()
        await remote.aclose()
    assert done.status == "succeeded", done.error
    assert done.output == {"applied": True}
    assert remote.requests == 1 + 2


@events.define_job(id="two-slow-steps", version="1.0.0")
def two_slow_steps(payload: Any, io: Any, ctx: Any) -> Any:
    """A sync run function: the sync io, the same machinery."""

    def slow() -> int:
        time.sleep(0.3)
        return 1

    first = io.run_task("first", slow)
    return first + io.run_task("second", lambda: 2)


def test_the_answer_streams_a_signed_line_per_task_and_beats_in_long_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(endpoint_server, "BEAT_SECONDS", 0.1)
    asyncio.run(_lines())


async def _lines() -> None:
    app = events.endpoint(secret=SECRET)
    signer = Signer(SECRET.encode())
    run = {
        "id": "run_2",
        "job_id": "two-slow-steps",
        "job_version": "1.0.0",
        "status": "running",
        "payload": "null",
        "created_at": 1.0,
        "attempt": 1,
        "epoch": 1,
    }
    body = json.dumps({"protocol": 1, "action": "execute", "run": run, "nonce": "n"}).encode()
    headers = signer.sign_request(body)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as http:
        response = await http.post("http://waiter/", content=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [
        json.loads(signer.verify_line(headers["x-relaykit-signature"], seq, line))
        for seq, line in enumerate(response.content.splitlines(keepends=True))
    ]
    kinds = [line["t"] for line in lines]
    assert kinds[0] == "beat" and kinds.count("task") == 2 and kinds[-1] == "end", kinds
    assert [line["task"]["key"] for line in lines if line["t"] == "task"] == ["first", "second"]
    assert lines[-1]["status"] == "succeeded" and lines[-1]["output"] == "3"
    assert lines[-1]["yielded"] is False


def test_a_5xx_is_a_suspended_attempt_not_a_failed_run(tmp_path: Path, effects: Path) -> None:
    asyncio.run(_server_error(tmp_path, effects))
    # the 502 hid nothing: each effect happened once (the reserve retry is the app's own)
    expected = ["charge A-5", "reserve A-5 attempt 1", "reserve A-5 attempt 2", "email A-5"]
    assert effects.read_text().splitlines() == expected


async def _server_error(tmp_path: Path, effects: Path) -> None:
    inner = shop.client.endpoint(secret=SECRET)
    answered: list[int] = []

    async def flaky_proxy(scope: Any, receive: Any, send: Any) -> None:
        # the first execute request meets a broken proxy: 502, the app never sees it
        if scope["type"] == "http" and len(answered) == 1:
            answered.append(502)
            await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": b"bad gateway"})
            return
        answered.append(200)
        await inner(scope, receive, send)

    remote = _remote(flaky_proxy)
    _, jobs = await remote.describe()
    relay = Client(id="shop", database_url=f"sqlite:///{tmp_path / 'relay.db'}")
    relay.add_remote_jobs(jobs)
    try:
        result = await relay.run("fulfil-order", {"order": "A-5", "items": 0})
    finally:
        await relay.close()
        await remote.aclose()
    assert result.status == "succeeded", result.error
    assert answered[:2] == [200, 502]


@events.define_job(id="reads-the-store", version="1.0.0")
async def reads_the_store(payload: Any, io: Any, ctx: Any) -> Any:
    return await io.store.job.get("read-counter", "counter", default=0)


def test_an_io_feature_endpoint_mode_lacks_fails_the_run_clearly_at_once(tmp_path: Path) -> None:
    result = asyncio.run(_unsupported(tmp_path))
    assert result.status == "failed"
    assert result.error is not None and "endpoint mode cannot read" in result.error["message"]
    assert "io.store reads" in result.error["message"]
    assert result.task("read-counter").attempts == 1, "not retried: retrying cannot help"


async def _unsupported(tmp_path: Path) -> RunResult:
    remote = _remote(events.endpoint(secret=SECRET))
    _, jobs = await remote.describe()
    relay = Client(id="waiter", database_url=f"sqlite:///{tmp_path / 'relay.db'}")
    relay.add_remote_jobs(jobs)
    try:
        return await relay.run("reads-the-store", None)
    finally:
        await relay.close()
        await remote.aclose()


def test_an_integration_task_rate_limited_once_completes_through_the_endpoint(
    tmp_path: Path,
) -> None:
    asyncio.run(_integration(tmp_path))


async def _integration(tmp_path: Path) -> None:
    from relaykit_weather import Weather
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    calls: list[str] = []

    async def current(request: Request) -> JSONResponse:
        calls.append(request.headers["authorization"])
        if len(calls) == 1:  # Weatherly's rate limit: retry at the reset time
            reset = str(int(time.time()) + 1)
            return JSONResponse({"error": "slow down"}, 429, {"X-RateLimit-Reset": reset})
        city = request.query_params["city"]
        return JSONResponse({"city": city, "temperature_c": 21.5, "summary": "sunny"})

    weatherly = Starlette(routes=[Route("/v1/current", current)])
    weather = Weather(
        id="weather",
        token="weatherly-token-1234",
        base_url="http://weatherly",
        transport=httpx2.ASGITransport(app=weatherly),
    )
    app_client = Client(id="forecaster")

    @app_client.define_job(id="report", version="1.0.0", integrations={"weather": weather})
    async def report(payload: Any, io: Any, ctx: Any) -> Any:
        now = await io.weather.current("paris-now", city="Paris")
        return {"summary": now.summary, "c": now.temperature_c}

    remote = _remote(app_client.endpoint(secret=SECRET))
    _, jobs = await remote.describe()
    relay = Client(id="forecaster", database_url=f"sqlite:///{tmp_path / 'relay.db'}")
    relay.add_remote_jobs(jobs)
    try:
        result = await relay.run("report", None)
    finally:
        await relay.close()
        await remote.aclose()
    assert result.status == "succeeded", result.error
    assert result.output == {"summary": "sunny", "c": 21.5}
    assert calls == ["Bearer weatherly-token-1234"] * 2
    assert result.task("paris-now").attempts == 2
    assert "weatherly-token-1234" not in json.dumps(result.to_dict())
    assert remote.requests == 1 + 2


def test_a_client_configured_with_endpoints_drives_their_jobs(
    tmp_path: Path, effects: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Client(endpoints=[URL])``: the example app served by uvicorn on loopback."""
    monkeypatch.setenv("RELAYKIT_ENDPOINT_SECRET", SECRET)
    with uvicorn_thread(shop.app) as base:
        relay = Client(
            id="ops",
            database_url=f"sqlite:///{tmp_path / 'relay.db'}",
            endpoints=[f"{base}/api/relaykit/"],
        )
        result = relay.run_sync("fulfil-order", {"order": "A-7", "items": 1})
    assert result.status == "succeeded", result.error
    assert list(relay.jobs) == ["fulfil-order"]
    assert effects.read_text().splitlines() == [
        "charge A-7",
        "reserve A-7 attempt 1",
        "reserve A-7 attempt 2",
        "pack A-7 0",
        "email A-7",
    ]


@pytest.mark.parametrize(
    "job",
    [
        {"id": "Not A Slug", "version": "1.0.0"},  # define_job would have slugified it
        {"id": "ok", "version": "1.0"},  # not MAJOR.MINOR.PATCH
        {"version": "1.0.0"},  # no id
    ],
)
def test_a_malformed_describe_is_one_clear_error(job: dict[str, Any]) -> None:
    signer = Signer(SECRET.encode())

    async def liar(scope: Any, receive: Any, send: Any) -> None:
        """A signed describe answer with a job no define_job would make."""
        headers = dict((k.decode(), v.decode()) for k, v in scope["headers"])
        line = signer.sign_line(
            headers["x-relaykit-signature"],
            0,
            json.dumps({"t": "describe", "protocol": 1, "client": "liar", "jobs": [job]}).encode(),
        )
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": line})

    async def go() -> None:
        remote = _remote(liar)
        try:
            await remote.describe()
        finally:
            await remote.aclose()

    with pytest.raises(EndpointError, match="describe answered a malformed job"):
        asyncio.run(go())
