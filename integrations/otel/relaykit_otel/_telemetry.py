"""``Telemetry``: relaykit's hooks as OpenTelemetry spans and metrics."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Generator, Mapping
from typing import Any, Final, final

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import relaykit

from ._version import __version__

#: The instrumentation scope of every span and instrument.
SCOPE: Final = "relaykit_otel"
#: The terminal run statuses (``relaykit.runs.finished`` counts these).
TERMINAL: Final = frozenset({"succeeded", "failed", "invalid_payload", "timed_out", "canceled"})
#: How many task attempts are remembered to link their retries to (per process).
REMEMBERED_TASKS: Final = 10_000

_W3C = TraceContextTextMapPropagator()


@final
class Telemetry:
    """A relaykit plugin that emits spans and metrics (see ``docs/observability.md``).

    ``tracer_provider`` and ``meter_provider`` default to OpenTelemetry's global ones (set
    by ``relaykit_otel.configure()``, by ``opentelemetry-instrument`` or by the app).
    Register one with ``client.plugins.register(Telemetry(...), name="otel")``, or install
    ``relaykit[otel]``: its entry point registers ``relaykit_otel.plugin`` (global providers).
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self.runs_started = meter.create_counter(
            "relaykit.runs.started", unit="{run}", description="Runs whose first attempt began"
        )
        self.runs_finished = meter.create_counter(
            "relaykit.runs.finished", unit="{run}", description="Runs that ended, by status"
        )
        self.task_duration = meter.create_histogram(
            "relaykit.task.duration", unit="s", description="How long a task's function ran"
        )
        self.lease_losses = meter.create_counter(
            "relaykit.lease.losses",
            unit="{attempt}",
            description="Attempts stopped because another attempt took their run",
        )
        self.attempts_active = meter.create_up_down_counter(
            "relaykit.attempts.active",
            unit="{attempt}",
            description="Attempts executing in this process",
        )
        self.queue_depth = meter.create_gauge(
            "relaykit.queue.depth",
            unit="{run}",
            description="Unfinished runs in the store, across all workers, by job and status",
        )
        self._depth_seen: set[tuple[str, str]] = set()
        # (run id, task key) -> the span of that task's last attempt here: a retry links to it
        self._last: OrderedDict[tuple[str, str], SpanContext] = OrderedDict()

    # -- where runs start --------------------------------------------------------------------

    @relaykit.hookimpl
    def relaykit_trace_context(self) -> dict[str, str] | None:
        """The caller's span as W3C ``traceparent`` (and ``tracestate``), when there is one."""
        if not trace.get_current_span().get_span_context().is_valid:
            return None
        carrier: dict[str, str] = {}
        _W3C.inject(carrier)
        return carrier or None

    @relaykit.hookimpl
    def relaykit_queue_depth(self, counts: Mapping[str, Mapping[str, int]]) -> None:
        seen = set()
        for job_id, by_status in counts.items():
            for status, runs in by_status.items():
                seen.add((job_id, status))
                self.queue_depth.set(runs, _depth_attributes(job_id, status))
        for job_id, status in self._depth_seen - seen:  # drained since the last report
            self.queue_depth.set(0, _depth_attributes(job_id, status))
        self._depth_seen = seen

    @relaykit.hookimpl
    def relaykit_http_request(self, request: Any) -> None:
        """Send the current span (the task's) along with an integration's HTTP request."""
        if trace.get_current_span().get_span_context().is_valid:
            _W3C.inject(request.headers)

    # -- attempts ----------------------------------------------------------------------------

    @relaykit.hookimpl(wrapper=True)
    def relaykit_wrap_attempt(
        self, attempt: relaykit.AttemptCall
    ) -> Generator[None, Awaitable[relaykit.AttemptEnd], Awaitable[relaykit.AttemptEnd]]:
        """A span around each attempt of a run, child of the context its starter carried."""
        inner = yield
        return self._attempt(attempt, inner)

    async def _attempt(
        self, attempt: relaykit.AttemptCall, inner: Awaitable[relaykit.AttemptEnd]
    ) -> relaykit.AttemptEnd:
        job = {"relaykit.job.id": attempt.job_id}
        parent = _W3C.extract(dict(attempt.trace_context)) if attempt.trace_context else None
        attributes: dict[str, Any] = {
            **job,
            "relaykit.job.version": attempt.job_version,
            "relaykit.run.id": attempt.run_id,
            "relaykit.run.attempt": attempt.attempt,
        }
        for name, value in (
            ("relaykit.event.id", attempt.event_id),
            ("relaykit.event.name", attempt.event_name),
            ("relaykit.run.parent_id", attempt.parent_run_id),
        ):
            if value is not None:
                attributes[name] = value
        if attempt.attempt == 1:
            self.runs_started.add(1, job)
        self.attempts_active.add(1, job)
        with self._tracer.start_as_current_span(
            f"relaykit.run {attempt.job_id}",
            context=parent if parent is not None else otel_context.Context(),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                end = await inner
            except BaseException as exc:  # a shutdown cancelled it: the run is handed back
                span.set_attribute("relaykit.run.status", "interrupted")
                span.set_status(Status(StatusCode.UNSET))
                span.add_event("relaykit.interrupted", {"exception.type": type(exc).__name__})
                raise
            finally:
                self.attempts_active.add(-1, job)
            self._ended(span, attempt, end)
            return end

    def _ended(
        self, span: trace.Span, attempt: relaykit.AttemptCall, end: relaykit.AttemptEnd
    ) -> None:
        job = {"relaykit.job.id": attempt.job_id}
        span.set_attribute("relaykit.run.status", end.status)
        if end.lease_lost:
            span.set_attribute("relaykit.lease.lost", True)
            self.lease_losses.add(1, job)
        if end.error is not None:
            _set_error(span, end.error)
        elif end.status in TERMINAL:
            span.set_status(Status(StatusCode.OK))
        if end.status in TERMINAL:
            self.runs_finished.add(1, {**job, "relaykit.run.status": end.status})

    # -- tasks -------------------------------------------------------------------------------

    @relaykit.hookimpl(wrapper=True)
    def relaykit_wrap_task(
        self, task: relaykit.TaskCall
    ) -> Generator[None, Awaitable[Any], Awaitable[Any]]:
        """A span around each execution of a task's function, linked to its last attempt."""
        inner = yield
        return self._task(task, inner)

    async def _task(self, task: relaykit.TaskCall, inner: Awaitable[Any]) -> Any:
        attributes: dict[str, Any] = {
            "relaykit.job.id": task.job_id,
            "relaykit.run.id": task.run_id,
            "relaykit.task.key": task.key,
            "relaykit.task.name": task.name,
            "relaykit.task.attempt": task.attempt,
        }
        if task.integration is not None:
            attributes["relaykit.task.integration"] = task.integration
        where = (task.run_id, task.key)
        earlier = self._last.get(where)
        links = [Link(earlier, {"relaykit.task.attempt": task.attempt - 1})] if earlier else []
        with self._tracer.start_as_current_span(
            f"relaykit.task {task.name}",
            attributes=attributes,
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if task.attempt > 1:
                span.add_event("relaykit.retry", {"relaykit.task.attempt": task.attempt})
            self._remember(where, span.get_span_context())
            started = time.perf_counter()
            outcome = "ok"
            try:
                return await inner
            except Exception as exc:
                outcome = "error"
                _set_error(span, {"type": type(exc).__name__, "message": str(exc)})
                raise
            except BaseException:  # a wait inside the task, a lost lease: not the task's error
                outcome = "suspended"
                raise
            finally:
                span.set_attribute("relaykit.task.outcome", outcome)
                self.task_duration.record(
                    time.perf_counter() - started,
                    {
                        "relaykit.job.id": task.job_id,
                        "relaykit.task.name": task.name,
                        "relaykit.task.outcome": outcome,
                    },
                )

    def _remember(self, where: tuple[str, str], span: SpanContext) -> None:
        self._last[where] = span
        self._last.move_to_end(where)
        while len(self._last) > REMEMBERED_TASKS:
            self._last.popitem(last=False)


def _depth_attributes(job_id: str, status: str) -> dict[str, str]:
    return {"relaykit.job.id": job_id, "relaykit.run.status": status}


def _set_error(span: trace.Span, error: Mapping[str, Any]) -> None:
    """Mark ``span`` failed with relaykit's error object: its type and message only (never the
    params or the task's arguments; a traceback stays in relaykit's store)."""
    kind = str(error.get("type") or "Error")
    message = " ".join(str(error.get("message") or "").split())[:1000]
    span.set_attribute("error.type", kind)
    task = error.get("task")
    if task:
        span.set_attribute("relaykit.error.task", str(task))
    span.set_status(Status(StatusCode.ERROR, f"{kind}: {message}"))
    span.add_event("exception", {"exception.type": kind, "exception.message": message})
