"""The event loop a ``RelaykitEnv`` owns, and its store as every other loop sees it.

The env runs everything on one event loop in its own thread, so its methods work the same from
a plain ``def`` test and from inside an ``async def`` test (whatever runs that test's loop), and
its store only ever lives on that one loop. Code under test that calls the bound client itself
(``client.send_event_sync`` in a web handler, ``client.run_sync``) runs its own loops; the
client's store is a ``LoopStore`` that hands each call to the env's loop, so both backends
work from anywhere (a PostgreSQL pool belongs to one loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
from collections.abc import Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar, cast

from ..store import Store

T = TypeVar("T")

#: How long closing waits for the loop's last work (closing the store) before giving up on it.
CLOSE_SECONDS = 30.0


class EnvLoop:
    """An event loop running in a daemon thread until ``stop()``."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    @property
    def in_loop_thread(self) -> bool:
        """True when called from the loop's own thread (a task of a run, say)."""
        return threading.get_ident() == self._thread.ident

    def call(self, what: str, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and block until it is done; ``what`` names the caller."""
        if self.in_loop_thread:
            coro.close()
            raise RuntimeError(
                f"{what} was called from inside a run of the env (a task or a job's code); "
                "call the env from the test only"
            )
        if not self.loop.is_running():
            coro.close()
            raise RuntimeError(f"{what}: the env is closed; make a new one with relaykit_env()")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def acall(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the loop, from any loop."""
        if _running_loop() is self.loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self, last: Coroutine[Any, Any, None]) -> None:
        """Run ``last`` (closing what lives on the loop), cancel what is left, stop the loop."""
        if self.loop.is_running():
            with contextlib.suppress(FutureTimeout):
                asyncio.run_coroutine_threadsafe(self._finish(last), self.loop).result(
                    CLOSE_SECONDS
                )
            self.loop.call_soon_threadsafe(self.loop.stop)
        else:
            last.close()
        self._thread.join(CLOSE_SECONDS)
        if not self._thread.is_alive():
            self.loop.close()

    async def _finish(self, last: Coroutine[Any, Any, None]) -> None:
        try:
            await last
        finally:
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LoopStore:
    """``store`` as the bound client sees it: every coroutine method runs on ``loop``.

    ``open`` and ``close`` do nothing: the env opened the store and closes it, so code under
    test that closes its client (``async with client:``) cannot pull it from under the env.
    """

    def __init__(self, store: Store, env_loop: EnvLoop) -> None:
        self._store = store
        self._env_loop = env_loop

    def __repr__(self) -> str:
        return f"<relaykit_env store {self._store.url}>"

    async def open(self, *, migrate: bool = True) -> None:
        """Nothing: the env opened the store."""

    async def close(self) -> None:
        """Nothing: the env closes the store."""

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        env_loop = self._env_loop

        @functools.wraps(attr)
        async def on_env_loop(*args: Any, **kwargs: Any) -> Any:
            return await env_loop.acall(attr(*args, **kwargs))

        return on_env_loop


def loop_store(store: Store, env_loop: EnvLoop) -> Store:
    """``store`` reachable from any event loop (see ``LoopStore``)."""
    return cast(Store, LoopStore(store, env_loop))


__all__ = ["EnvLoop", "LoopStore", "loop_store"]
