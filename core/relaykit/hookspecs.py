"""The hooks a relaykit plugin may implement; each is a documented function and nothing else.

A plugin is a module (usually a separately installed distribution found through the entry-point
group ``relaykit``) whose functions are marked with ``@relaykit.hookimpl``::

    import relaykit

    @relaykit.hookimpl
    def relaykit_register_integrations(register):
        register(Weather)

relaykit's own behaviour (running a task's function) is registered through these same hooks, so a
plugin composes with it exactly as with any other plugin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    import httpx2

    from .integrations.base import Integration
    from .integrations.plugins import AttemptCall, AttemptEnd, TaskCall

hookspec = pluggy.HookspecMarker("relaykit")


@hookspec
def relaykit_register_integrations(register: Callable[[type[Integration]], None]) -> None:
    """Register the ``Integration`` subclasses this plugin provides.

    Call ``register(cls)`` once per class. They are listed by ``relaykit plugins`` and can be
    looked up by their ``slug`` with ``client.plugins.integration(slug)`` (e.g. by
    ``relaykit connect NAME``).
    """


@hookspec
def relaykit_register_commands(cli: click.Group) -> None:
    """Add commands to the ``relaykit`` command line (as ``llm``'s ``register_commands``).

    ``cli`` is a click group: decorate functions with ``@cli.command()`` or ``@cli.group()``,
    or call ``cli.add_command(cmd)``::

        @relaykit.hookimpl
        def relaykit_register_commands(cli):
            @cli.command()
            @click.argument("city")
            def forecast(city):
                "Print the forecast for CITY."
                click.echo(...)

    Called when ``relaykit --help`` lists the commands or when a command that is not one of
    relaykit's own runs (never for ``relaykit worker`` and the other built-in commands, so a
    plugin's imports do not slow them down). To stay that cheap, the module named by the
    plugin's entry point must name ``relaykit_register_commands`` in its source (define it
    there, or import it by that name): the CLI reads the source, without importing it, to
    find the plugins that add commands. A plugin's commands are added all or none: one whose
    hook raises, or that names a command relaykit has, gets one warning line and the rest of
    the command line works as before.
    """


@hookspec(firstresult=True)
def relaykit_wrap_task(task: TaskCall) -> Awaitable[Any]:  # type: ignore[empty-body]
    """Wrap one execution of a task's function (tracing, redaction, metrics).

    Called once per execution (every attempt; never for a replayed, already completed task).
    relaykit's built-in implementation is the innermost one: it returns the awaitable that
    executes the task (``task.execute()``). Implement this hook as a pluggy *new-style wrapper*
    and return an awaitable that awaits the inner one::

        @relaykit.hookimpl(wrapper=True)
        def relaykit_wrap_task(task):
            inner = yield                       # the awaitable of the inner implementations
            async def traced():
                with tracer.start_as_current_span(task.name):
                    return await inner          # the task's output, or its exception
            return traced()

    What the outer awaitable returns is recorded as the task's output, and what it raises is
    the task's error, so a wrapper may also redact both. ``task`` is read-only; its
    ``params`` are already redacted. A wrapper must await ``inner`` exactly once.

    A plain (not wrapper) implementation marked ``tryfirst`` that returns an awaitable
    *answers* for the task: the task's function is not called, and what the awaitable returns
    or raises is the task's outcome (``relaykit.testing``'s mocks work this way). Returning
    None leaves the task to the next implementation.
    """


@hookspec(firstresult=True)
def relaykit_wrap_attempt(attempt: AttemptCall) -> Awaitable[AttemptEnd]:  # type: ignore[empty-body]
    """Wrap one attempt of a run (tracing, metrics): from its claim to its recorded end.

    Called once per attempt a worker, ``client.run`` or ``relaykit run`` executes. Implement
    it as a new-style wrapper, like ``relaykit_wrap_task``: the awaitable of the inner
    implementations returns an ``AttemptEnd`` (the status the attempt recorded — ``waiting``
    when it suspended —, its error, and whether its lease was lost, in which case nothing
    was recorded) and raises ``asyncio.CancelledError`` when a shutdown stops the attempt.
    A wrapper must await it exactly once and hand back what it returns; it cannot change
    the attempt's outcome. ``attempt.trace_context`` is what ``relaykit_trace_context``
    returned where the run was started (None when nothing was carried).
    """


@hookspec(firstresult=True)
def relaykit_trace_context() -> Mapping[str, str] | None:
    """Text to carry from where a run is started to its attempts (a W3C ``traceparent``).

    Called when ``send_event`` (the client, the HTTP API, a webhook delivery),
    ``enqueue``/``run`` or ``io.invoke`` stores an event or a run, in the caller's context (so
    a tracer's current span is the caller's). A non-empty mapping of short strings is stored
    beside the event or run (the store's key-value table, scope ``relaykit.trace``; a child of
    ``io.invoke`` in the same transaction) and handed to every attempt of the runs it starts
    as ``AttemptCall.trace_context``. Return None to carry nothing (then nothing is written).
    """


@hookspec
def relaykit_http_request(request: httpx2.Request) -> None:
    """Change a request an integration's HTTP client is about to send (add a header).

    Called, in the task's context, for each request sent by an ``httpx2.AsyncClient`` that an
    ``Integration.create_client`` returned (or that the client it returned keeps as
    ``_client``, as the vendors' SDKs do). Tracers inject ``traceparent`` here.
    """


@hookspec
def relaykit_queue_depth(counts: Mapping[str, Mapping[str, int]]) -> None:
    """The unfinished runs in the store, across all workers, by job id and status.

    Called by each running worker about every ``Worker.depth_interval`` seconds (15 by
    default; the first call soon after it starts), only when a plugin implements it: the count
    is one ``GROUP BY`` query. ``counts`` maps a job id to ``{status: runs}`` for the statuses
    ``queued``, ``running``, ``waiting`` and ``waiting_for_connection``; a job or status with
    no run is left out (so a job whose runs all ended disappears). Metrics plugins set a gauge
    from it (``relaykit-otel``'s ``relaykit.queue.depth``).
    """
