"""The one bridge between sync user code and the async engine, and the thread helpers.

A plain ``def`` run function runs in its own thread and gets ``SyncProxy(io)``: every coroutine
method of the async ``io`` (and of the objects it hands out: ``io.logger``, ``io.store.run``,
integrations) becomes a blocking call that runs the *same* coroutine on the engine's loop. There
is no second implementation of any ``io`` method.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import CancelledError
from typing import Any, TypeVar

from .threads import CallerLane, caller_lane

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, without making the main task hold the result.

    On Python 3.11, ``asyncio.run`` ends by reading the SIGINT handler back, and
    ``signal.getsignal`` formats the ``repr`` of that handler (a partial holding the main task)
    into an error it then discards: the repr of a finished task includes its result's, so a
    ``RunResult`` of 10,000 tasks was formatted twice (~80 ms each) for nothing. Here the main
    task returns None and the result comes back beside it. Used by the CLI's store-only
    commands (``relaykit runs``, ``db``) and by ``Client.run_sync``/``send_event_sync``. (A
    PostgreSQL hang at the loop's close, once blamed on this, was the store's pool left to the
    loop's shutdown; ``Client`` now closes the store first.)
    """
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]


class Bridged:
    """Marker base: objects handed out by ``io`` whose coroutine methods are bridged too."""


def _transfer(task: asyncio.Task[Any], lane: CallerLane) -> None:
    if task.cancelled():
        lane.finish((None, CancelledError()))
    elif (exc := task.exception()) is not None:
        lane.finish((None, exc))
    else:
        lane.finish((task.result(), None))


class SyncBridge:
    """Runs coroutines on ``loop`` from other threads, keeping the caller's context."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call coroutine function ``fn`` on the loop and block until it is done.

        While it blocks, the calling thread is lent to the loop (``threads.CallerLane``): a
        sync task function the coroutine starts runs here, not in a third thread.
        """
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "the sync io was called on the event loop's thread; in an `async def` job use "
                "`await io....` instead"
            )
        # The coroutine runs as a task in the *caller's* context, so the current task scope
        # (nested task keys, current_task()) follows the call across threads.
        ctx = contextvars.copy_context()
        lane = CallerLane()
        ctx.run(caller_lane.set, lane)

        def start() -> None:
            task = self._loop.create_task(fn(*args, **kwargs), context=ctx)
            task.add_done_callback(functools.partial(_transfer, lane=lane))

        self._loop.call_soon_threadsafe(start)
        value, error = lane.serve_until_done()
        if error is not None:
            raise error
        return wrap(value, self)


def wrap(value: Any, bridge: SyncBridge) -> Any:
    """Wrap bridged objects in a ``SyncProxy``; leave other values alone."""
    return SyncProxy(value, bridge) if isinstance(value, Bridged) else value


class SyncProxy:
    """A synchronous face over an async object: ``io`` for plain ``def`` run functions."""

    __slots__ = ("_bridge", "_target")

    def __init__(self, target: Any, bridge: SyncBridge) -> None:
        self._target = target
        self._bridge = bridge

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if inspect.iscoroutinefunction(attr):

            @functools.wraps(attr)
            def blocking(*args: Any, **kwargs: Any) -> Any:
                return self._bridge.call(attr, *args, **kwargs)

            return blocking
        if inspect.ismethod(attr):
            # A plain method may hand out an async object (``io.use(github)``): bridge it too.
            @functools.wraps(attr)
            def bridged(*args: Any, **kwargs: Any) -> Any:
                return wrap(attr(*args, **kwargs), self._bridge)

            return bridged
        return wrap(attr, self._bridge)

    def __repr__(self) -> str:
        return f"<sync {self._target!r}>"


_async_by_code: dict[Any, bool] = {}


def is_async_callable(fn: Callable[..., Any]) -> bool:
    """``inspect.iscoroutinefunction``, cached per code object (it is on every task's path)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return inspect.iscoroutinefunction(fn)
    found = _async_by_code.get(code)
    if found is None:
        found = _async_by_code[code] = inspect.iscoroutinefunction(fn)
    return found


async def run_in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a sync run function in its own thread (with this context); await its result.

    A dedicated thread, not the shared pool: a sync run function blocks on each ``io`` call,
    and pool threads held that way could starve the task functions it waits for.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    ctx = contextvars.copy_context()

    def settle(value: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)

    def target() -> None:
        try:
            value = ctx.run(fn, *args)
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=target, name="relaykit-sync-run", daemon=True).start()
    return await future
