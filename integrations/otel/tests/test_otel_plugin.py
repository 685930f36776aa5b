"""relaykit-otel on real runs (SQLite and PostgreSQL): spans per attempt and per task, retries
linked, trace context carried from senders to runs and into integration HTTP requests,
metrics, and no secret in any span."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.conftest import _migrate, create_test_database
from tests.localserver import serve
from tests.pg import drop_database, empty_tables

import relaykit
from relaykit import IO, Client, Context, Credentials, Retry, RunStatus
from relaykit.testing import ManualClock
from relaykit_otel import Telemetry

SECRET = "ct_very-secret-token-4711"


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[tuple[str, int]]:
    url = create_test_database()
    try:
        yield url, asyncio.run(_migrate(url))
    finally:
        drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend in turn."""
    if request.param == "postgres":
        url, version = request.getfixturevalue("postgres_database")
        empty_tables(url, keep_version=version)
        return str(url)
    return f"sqlite:///{tmp_path / 'relaykit.db'}?synchronous=normal"


class Otel:
    """An SDK tracer and meter provider reading into memory, and the plugin on them."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.plugin = Telemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )
        self.tracer = self.tracer_provider.get_tracer("test")

    def finished(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name.startswith(prefix)]

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, point) of every data point of metric ``name``."""
        data = self.reader.get_metrics_data()
        found = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
        return found


@pytest.fixture
def otel() -> Otel:
    return Otel()


def _client(db_url: str, otel: Otel, **options: Any) -> Client:
    client = Client("otel", database_url=db_url, lease_seconds=5, **options)
    client.plugins.register(otel.plugin, name="otel")
    return client


def test_a_retried_task_gives_linked_spans_under_the_attempts_of_the_senders_trace(
    db_url: str, otel: Otel
) -> None:
    client = _client(db_url, otel, clock=ManualClock())
    calls = {"n": 0}

    async def flaky() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("the API hung up")
        return "ok"

    @client.define_job(id="sync-orders", version="2.1.0")
    async def sync_orders(payload: Any, io: IO, ctx: Context) -> str:
        await io.logger.info("syncing")
        retry = Retry(limit=3, min_timeout=1, randomize=False)
        return str(await io.run_task("fetch", flaky, retry=retry))

    async def go() -> relaykit.RunResult:
        with otel.tracer.start_as_current_span("request") as sender:
            result = await client.run("sync-orders", {})
        await client.close()
        assert sender.get_span_context().trace_id == _trace(otel.finished("relaykit.run")[0])
        return result

    result = asyncio.run(go())
    assert result.status is RunStatus.SUCCEEDED
    (request,) = otel.finished("request")
    attempts = otel.finished("relaykit.run")
    assert [_attr(a, "relaykit.run.attempt") for a in attempts] == [1, 2]
    assert [_attr(a, "relaykit.run.status") for a in attempts] == ["waiting", "succeeded"]
    for a in attempts:  # both attempts are children of the sender's span
        assert a.parent is not None and a.parent.span_id == request.context.span_id
        assert _attr(a, "relaykit.job.id") == "sync-orders"
        assert _attr(a, "relaykit.job.version") == "2.1.0"
        assert _attr(a, "relaykit.run.id") == result.id
    first, second = otel.finished("relaykit.task")
    assert [_attr(t, "relaykit.task.attempt") for t in (first, second)] == [1, 2]
    assert _attr(first, "relaykit.task.key") == "fetch"
    assert first.status.status_code is StatusCode.ERROR
    assert _attr(first, "error.type") == "ConnectionError"
    assert first.parent is not None and first.parent.span_id == attempts[0].context.span_id
    assert second.parent is not None and second.parent.span_id == attempts[1].context.span_id
    # the retry links to the attempt before it, and says it is a retry
    assert [link.context.span_id for link in second.links] == [first.context.span_id]
    assert [e.name for e in second.events] == ["relaykit.retry"]
    started = otel.points("relaykit.runs.started")
    assert [(attrs, p.value) for attrs, p in started] == [({"relaykit.job.id": "sync-orders"}, 1)]
    finished = otel.points("relaykit.runs.finished")
    assert [(a["relaykit.run.status"], p.value) for a, p in finished] == [("succeeded", 1)]
    durations = otel.points("relaykit.task.duration")
    assert {a["relaykit.task.outcome"]: p.count for a, p in durations} == {"error": 1, "ok": 1}


def test_an_event_carries_the_senders_context_to_the_runs_a_worker_executes(
    db_url: str, otel: Otel
) -> None:
    client = _client(db_url, otel, poll_interval=0.05)
    signup = relaykit.event_trigger("user.created")

    @client.define_job(id="on-signup", version="1.0.0", trigger=signup)
    async def on_signup(payload: Any, io: IO, ctx: Context) -> str:
        return str(await io.run_task("greet", lambda: "hi"))

    @client.define_job(id="broken", version="1.0.0", trigger=signup)
    async def broken(payload: Any, io: IO, ctx: Context) -> str:
        raise ValueError("no such plan: gold")

    async def go() -> None:
        with otel.tracer.start_as_current_span("webhook") as sender:
            await client.send_event("user.created", {"id": 7})
        await relaykit.Worker(client, exit_when_idle=True).run()
        await client.close()
        for attempt in otel.finished("relaykit.run"):
            assert attempt.parent is not None
            assert attempt.parent.span_id == sender.get_span_context().span_id
            assert _attr(attempt, "relaykit.event.name") == "user.created"

    asyncio.run(go())
    by_job = {_attr(a, "relaykit.job.id"): a for a in otel.finished("relaykit.run")}
    assert set(by_job) == {"on-signup", "broken"}
    assert by_job["on-signup"].status.status_code is StatusCode.OK
    failed = by_job["broken"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ValueError: no such plan: gold"
    assert _attr(failed, "relaykit.run.status") == "failed"
    finished = {a["relaykit.run.status"]: p.value for a, p in otel.points("relaykit.runs.finished")}
    assert finished == {"succeeded": 1, "failed": 1}


def test_a_child_run_of_io_invoke_is_a_child_of_the_invoking_attempt(
    db_url: str, otel: Otel
) -> None:
    client = _client(db_url, otel, clock=ManualClock())

    @client.define_job(id="child", version="1.0.0")
    async def child(payload: Any, io: IO, ctx: Context) -> int:
        return int(payload["n"]) * 2

    @client.define_job(id="parent", version="1.0.0")
    async def parent(payload: Any, io: IO, ctx: Context) -> int:
        return int(await io.invoke("double", "child", {"n": 21}))

    async def go() -> relaykit.RunResult:
        result = await client.run("parent", {})  # not inside any span: the parent is a root
        await client.close()
        return result

    assert asyncio.run(go()).output == 42
    spans = otel.finished("relaykit.run")
    parents = [s for s in spans if _attr(s, "relaykit.job.id") == "parent"]
    (child_span,) = [s for s in spans if _attr(s, "relaykit.job.id") == "child"]
    assert parents[0].parent is None
    assert child_span.parent is not None
    assert child_span.parent.span_id == parents[0].context.span_id  # the attempt that invoked it
    assert _attr(child_span, "relaykit.run.parent_id") == _attr(parents[0], "relaykit.run.id")


def test_without_a_current_span_nothing_is_carried_and_the_attempt_is_a_root(
    db_url: str, otel: Otel
) -> None:
    client = _client(db_url, otel)

    @client.define_job(id="cron-ish", version="1.0.0")
    async def cron_ish(payload: Any, io: IO, ctx: Context) -> int:
        return 1

    async def go() -> None:
        await client.run("cron-ish", {})
        await client.close()

    asyncio.run(go())
    (attempt,) = otel.finished("relaykit.run")
    assert attempt.parent is None


def test_workers_report_the_queue_depth_by_job_and_status_and_zero_once_drained(
    db_url: str, otel: Otel
) -> None:
    sender = Client("otel", database_url=db_url)

    @sender.define_job(id="backlog", version="1.0.0")
    async def backlog(payload: Any, io: IO, ctx: Context) -> None:
        return None

    async def parked(payload: Any, io: IO, ctx: Context) -> None:
        await io.wait_for_event("wait", "never.sent", timeout=3600)

    # the worker's app defines only "parked": backlog's runs stay queued for another worker
    client = _client(db_url, otel)
    for app in (sender, client):
        app.define_job(id="parked", version="1.0.0")(parked)

    def depth() -> dict[tuple[str, str], int]:
        return {
            (a["relaykit.job.id"], a["relaykit.run.status"]): p.value
            for a, p in otel.points("relaykit.queue.depth")
        }

    async def go() -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        queued = [await sender.enqueue("backlog", {}) for _ in range(3)]
        await sender.enqueue("parked", {})
        worker = client.worker(depth_interval=0.05)
        running = asyncio.create_task(worker.run())
        for _ in range(200):  # until the parked run waits and a report saw it
            await asyncio.sleep(0.05)
            if depth().get(("parked", "waiting")) == 1:
                break
        before = depth()
        for run_id in queued:
            await sender.cancel_run(run_id)
        for _ in range(200):
            await asyncio.sleep(0.05)
            if depth().get(("backlog", "queued")) == 0:
                break
        after = depth()
        worker.stop()
        await running
        await sender.close()
        await client.close()
        return before, after

    before, after = asyncio.run(go())
    # (the parked run passed through queued and running: those points went back to 0)
    assert {k: v for k, v in before.items() if v} == {
        ("backlog", "queued"): 3,
        ("parked", "waiting"): 1,
    }
    assert after[("backlog", "queued")] == 0 and after[("parked", "waiting")] == 1
    assert not {k: v for k, v in after.items() if k[0] == "parked" and k[1] != "waiting" and v}


def test_an_attempt_that_loses_its_lease_is_counted_and_marked(db_url: str, otel: Otel) -> None:
    clock = ManualClock()
    client = _client(db_url, otel, clock=clock)

    @client.define_job(id="slow", version="1.0.0")
    async def slow(payload: Any, io: IO, ctx: Context) -> int:
        async def stalls() -> int:
            if ctx.run.attempt == 1:  # this attempt stalls past its lease; another claims it
                clock.advance(60)
                now = clock.now()
                stolen = await client.store.claim_runs(
                    owner="elsewhere",
                    now=now,
                    lease_until=now + 5,
                    limit=1,
                    job_ids=["slow"],
                    run_id=ctx.run.id,
                    family=False,
                    exclude=[],
                )
                assert len(stolen) == 1
                # and hands it back at once: the run is queued for the next claim
                await client.store.release_runs(leases={ctx.run.id: stolen[0].epoch}, now=now)
            return 1

        return int(await io.run_task("stalls", stalls))

    async def go() -> relaykit.RunResult:
        result = await client.run("slow", {})
        await client.close()
        return result

    result = asyncio.run(go())
    assert result.status is RunStatus.SUCCEEDED  # the run went on once "elsewhere" let go
    attempts = otel.finished("relaykit.run")
    assert _attr(attempts[0], "relaykit.lease.lost") is True
    assert _attr(attempts[-1], "relaykit.run.status") == "succeeded"
    losses = otel.points("relaykit.lease.losses")
    assert [(a, p.value) for a, p in losses] == [({"relaykit.job.id": "slow"}, 1)]
    active = otel.points("relaykit.attempts.active")
    assert [p.value for _, p in active] == [0]  # every attempt that began has ended


class Recorder:
    """An API that records every request's headers."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: Request) -> JSONResponse:
        self.headers.append(dict(request.headers))
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])


class Shop(relaykit.Integration):
    """A small integration whose task takes a secret argument (redacted)."""

    token_env = "SHOP_TOKEN"

    def __init__(self, id: str, *, base_url: str, **kwargs: Any) -> None:
        super().__init__(id, **kwargs)
        self.base_url = base_url

    def create_client(self, credentials: Credentials) -> httpx2.AsyncClient:
        return self.http_client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {credentials.access_token}"},
        )

    @relaykit.task(redact=("api_key",))
    async def order(self, client: httpx2.AsyncClient, *, n: int, api_key: str) -> bool:
        response = await client.post(f"/orders/{n}", headers={"X-Api-Key": api_key})
        response.raise_for_status()
        if n < 0:
            raise relaykit.NonRetriable("refunds are not orders")
        return True


def test_integration_requests_carry_the_task_span_and_no_secret_reaches_a_span(
    db_url: str, otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", SECRET)
    recorder = Recorder()
    with serve(recorder.app()) as url:
        shop = Shop("shop", base_url=url)
        client = _client(db_url, otel)

        @client.define_job(id="buy", version="1.0.0", integrations={"shop": shop})
        async def buy(payload: Any, io: IO, ctx: Context) -> bool:
            await io.logger.info("buying", key=SECRET[:3])
            ok = bool(await io.shop.order("order", n=1, api_key=SECRET))
            await io.shop.order("refund", n=-1, api_key=SECRET)
            return ok

        async def go() -> relaykit.RunResult:
            result = await client.run("buy", {})
            await client.close()
            return result

        result = asyncio.run(go())

    assert result.status is RunStatus.FAILED
    order, refund = otel.finished("relaykit.task")
    sent = [h["traceparent"] for h in recorder.headers]
    for span, traceparent in zip((order, refund), sent, strict=True):
        _, trace_id, span_id, _ = traceparent.split("-")
        assert int(trace_id, 16) == span.context.trace_id
        assert int(span_id, 16) == span.context.span_id  # the task's own span
        assert _attr(span, "relaykit.task.integration") == "shop"
    assert refund.status.description == "NonRetriable: refunds are not orders"
    everything = [
        str(value)
        for span in otel.spans.get_finished_spans()
        for attrs in (span.attributes, *(e.attributes for e in span.events))
        for value in (attrs or {}).values()
    ] + [s.status.description or "" for s in otel.spans.get_finished_spans()]
    assert everything  # there are attributes to look through
    assert not [v for v in everything if SECRET in v]


def _trace(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def _attr(span: ReadableSpan, name: str) -> Any:
    return (span.attributes or {})[name]
