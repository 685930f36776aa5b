"""Handing a blocking function to a thread and getting its result back on the event loop.

``loop.run_in_executor`` costs ~50-80 µs a call on this project's machines: a
``concurrent.futures.Future`` chained to an asyncio one, the executor's work queue, its idle
semaphore, and a wake-up of the loop through its self-pipe for the result. A sync task function
(``io.run_task("k", fetch)``) pays that on every task, so ``ThreadLanes`` does the same hand-off
with less:

- long-lived threads fed by one ``queue.SimpleQueue`` (a C queue, no work-item objects);
- the result handed back through a ``threading.Lock`` the thread releases, and only if the loop
  stopped waiting, through ``loop.call_soon_threadsafe`` to an asyncio future;
- a **bounded wait**: the loop first waits on that lock for at most ``spin`` seconds (200 µs
  for task functions). A quick function (a dict lookup, a ``lambda``) is then back without a
  second pass through the loop's selector. A function that takes longer than ``spin`` costs
  the loop that ``spin`` once and is then awaited like any other future; a function whose last
  run took longer than ``spin`` is awaited at once. The loop is therefore never held for more
  than ``spin``, whatever the function does (``time.sleep``, ``requests.get``): lease renewal,
  which exactly-once depends on, keeps running on the loop.

``caller_lane``: a plain ``def`` run function blocks its own thread on every ``io`` call (see
``sync.SyncBridge``). While it waits, that thread is idle, so a sync task function started by
that call runs *there* rather than in a third thread: the thread that asked is the one that
does the work, and the pool is left to concurrent branches.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Final, final

#: How long the loop waits for a task function's thread before awaiting it (seconds).
TASK_SPIN: Final = 0.0002

# code objects whose last run took longer than the spin: the loop awaits them at once
_slow_codes: dict[Any, bool] = {}


@final
class _Job:
    """One call handed to a thread; its outcome comes back through ``done`` or ``future``."""

    __slots__ = (
        "args", "ctx", "done", "error", "finished", "fn", "future", "loop", "mutex", "seconds",
        "value",
    )  # fmt: skip

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        ctx: contextvars.Context,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fn = fn
        self.args = args
        self.ctx = ctx
        self.loop = loop
        self.done = threading.Lock()
        self.done.acquire()  # released by the thread once the outcome is set
        self.mutex = threading.Lock()  # orders "outcome set" against "future attached"
        self.finished = False
        self.future: asyncio.Future[Any] | None = None
        self.value: Any = None
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        """Run the call (in a lane's thread) and publish its outcome."""
        started = time.perf_counter()
        try:
            self.value = self.ctx.run(self.fn, *self.args)
        except BaseException as exc:  # handed back to the awaiting coroutine
            self.error = exc
        self.seconds = time.perf_counter() - started
        self._publish()

    def cancel(self) -> None:
        """Drop a call that never started (the lanes are shutting down)."""
        self.error = asyncio.CancelledError()
        self._publish()

    def _publish(self) -> None:
        with self.mutex:
            self.finished = True
            self.done.release()
            future = self.future
        if future is not None:
            try:
                self.loop.call_soon_threadsafe(_settle, future, self.value, self.error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    async def outcome(self, spin: float) -> Any:
        """Wait (on the loop) for the outcome: up to ``spin`` blocking, then as a future."""
        if spin <= 0 or not self.done.acquire(timeout=spin):
            future: asyncio.Future[Any] | None = self.loop.create_future()
            with self.mutex:
                if self.finished:  # finished meanwhile
                    future = None
                else:
                    self.future = future
            if future is not None:
                return await future
        if self.error is not None:
            raise self.error
        return self.value


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting coroutine was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


@final
class ThreadLanes:
    """Up to ``max_threads`` long-lived daemon threads that run blocking calls for the loop."""

    def __init__(self, max_threads: int, name: str) -> None:
        self._max = max_threads
        self._name = name
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, job: _Job) -> None:
        """Queue ``job``; start a thread if none is idle and the limit allows."""
        if self._closed:
            raise RuntimeError(f"{self._name}: the thread lanes are shut down")
        self._queue.put(job)
        if not self._idle.acquire(blocking=False) and len(self._threads) < self._max:
            thread = threading.Thread(
                target=self._serve, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _serve(self) -> None:
        get = self._queue.get
        while True:
            job = get()
            if job is None:
                return
            job.run()
            self._idle.release()

    async def run(self, fn: Callable[..., Any], *args: Any, spin: float = 0.0) -> Any:
        """Call ``fn(*args)`` in a thread, in a copy of the current context; return its result.

        The loop blocks for at most ``spin`` seconds waiting for it (see the module docstring).
        """
        job = _Job(fn, args, contextvars.copy_context(), asyncio.get_running_loop())
        self.submit(job)
        return await job.outcome(spin)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` in a thread; nobody waits for it (housekeeping)."""
        self.submit(_Job(fn, args, contextvars.copy_context(), asyncio.get_running_loop()))

    def shutdown(self) -> None:
        """Stop the threads once they finish what they run; drop calls not yet started."""
        self._closed = True
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.cancel()
        for _ in self._threads:
            self._queue.put(None)


@final
class CallerLane:
    """The thread of a sync ``io`` call, lent to the loop while that call waits.

    The thread loops in ``serve_until_done``: it runs the task functions the loop hands it, and
    returns the call's own result once ``finish`` delivers it. One function at a time: a
    second concurrent one goes to the pool.
    """

    __slots__ = ("_busy", "_closed", "_queue")

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self._busy = False
        self._closed = False

    def take(self, job: _Job) -> bool:
        """(On the loop.) Hand ``job`` to the waiting thread if it is free."""
        if self._busy or self._closed:
            return False
        self._busy = True
        self._queue.put((False, job))
        return True

    def release(self) -> None:
        """(On the loop.) The function handed over has finished."""
        self._busy = False

    def finish(self, outcome: Any) -> None:
        """(On the loop.) Deliver the call's own outcome; the lane takes no more work."""
        self._closed = True
        self._queue.put((True, outcome))

    def serve_until_done(self) -> Any:
        """(In the calling thread.) Run handed-over functions until the outcome arrives."""
        get = self._queue.get
        while True:
            final_, item = get()
            if final_:
                return item
            item.run()


#: The sync ``io`` call waiting in this context's thread, if any (set by ``SyncBridge``).
caller_lane: contextvars.ContextVar[CallerLane | None] = contextvars.ContextVar(
    "relaykit_caller_lane", default=None
)


async def call_blocking(lanes: ThreadLanes, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Run sync task function ``fn`` off the loop: in the sync caller's own thread when one is
    waiting for this task, else in ``lanes``; the loop waits at most ``TASK_SPIN`` for it."""
    job = _Job(fn, args, contextvars.copy_context(), asyncio.get_running_loop())
    code = getattr(fn, "__code__", None)  # a partial or callable object: nothing is learnt
    spin = 0.0 if code is not None and code in _slow_codes else TASK_SPIN
    lane = caller_lane.get()
    if lane is not None and lane.take(job):
        try:
            return await job.outcome(spin)
        finally:
            if job.finished:  # else (cancelled) the thread is still busy with it
                lane.release()
            _learn(code, job, spin)
    lanes.submit(job)
    try:
        return await job.outcome(spin)
    finally:
        _learn(code, job, spin)


def _learn(code: Any, job: _Job, spin: float) -> None:
    if code is None or not job.finished:  # still running (cancelled while waiting)
        return
    if job.seconds > TASK_SPIN:
        _slow_codes[code] = True
    elif spin == 0.0:
        _slow_codes.pop(code, None)
