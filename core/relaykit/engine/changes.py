"""Change notification for the realtime streams: one watcher per store per process, shared by
every subscriber.

``ChangeFeed`` reads the store's ``change_marker`` (SQLite: the file's ``data_version``;
PostgreSQL: the WAL insert position) every ``CHECK_INTERVAL`` seconds while anyone is
subscribed, and wakes every subscriber when it moves. A subscriber then re-reads only what
it watches (one run and its tasks, or one page of runs: keyed queries) and compares it with
what it sent last, so N open streams cost one marker read per interval plus N cheap reads per
actual change, never N polling loops. The watcher stops when the last subscriber leaves;
``close`` ends every subscription at once (server shutdown: an open stream must not hold the
server up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

from ..errors import StoreError

if TYPE_CHECKING:
    from ..store import Store

#: How often the one watcher reads the store's change marker (seconds).
CHECK_INTERVAL: Final = 0.2

_log = logging.getLogger("relaykit.changes")


class Subscription:
    """One subscriber's view of a ``ChangeFeed``: ``wait`` for the next change."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed
        self._seen = feed.version

    @property
    def closed(self) -> bool:
        """Whether the feed was closed (the stream should end)."""
        return self._feed.closed

    async def wait(self, timeout: float | None) -> bool:  # noqa: ASYNC109 -- a heartbeat interval, not a deadline
        """True as soon as the store changed since the last call; False after ``timeout``
        seconds without a change, or when the feed is closed."""
        feed = self._feed
        if feed.version == self._seen and not feed.closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await feed.changed().wait()
        if feed.closed or feed.version == self._seen:
            return False
        self._seen = feed.version
        return True


class ChangeFeed:
    """The one watcher of ``store`` in this process (``Client.changes``)."""

    def __init__(self, store: Store, *, interval: float = CHECK_INTERVAL) -> None:
        self._store = store
        self._interval = interval
        self.version = 0
        self.closed = False
        self._subscribers = 0
        self._event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._started: asyncio.Event | None = None
        self._failing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open (the watcher runs while there is one)."""
        return self._subscribers

    def changed(self) -> asyncio.Event:
        """The event set at the next change (or close); a new one after each change."""
        loop = asyncio.get_running_loop()
        if self._event is None or self._loop is not loop:
            self._loop, self._event, self._task = loop, asyncio.Event(), None
            self._started = None
        return self._event

    def _bump(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        if event is not None:
            event.set()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """Watch the store for as long as the block runs (the watcher starts with the first
        subscriber and stops after the last)."""
        self.changed()  # binds the feed to this loop
        self._subscribers += 1
        try:
            if self._task is None or self._task.done():
                self._started = asyncio.Event()
                self._task = asyncio.create_task(
                    self._watch(self._started), name="relaykit-change-feed"
                )
            # The watcher's first marker is read before the subscriber's first read, so a
            # commit between that read and the watcher's start is still a change.
            if self._started is not None:
                await self._started.wait()
            yield Subscription(self)
        finally:
            self._subscribers -= 1
            if self._subscribers <= 0 and self._task is not None:
                self._subscribers = 0
                self._task.cancel()
                self._task = None

    def close(self) -> None:
        """End every subscription now, and refuse new ones (``wait`` returns False)."""
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._event is not None:
            self._event.set()

    async def _marker(self) -> str | None:
        try:
            marker = await self._store.change_marker()
        except StoreError as exc:  # the database is away for now: keep watching
            if not self._failing:
                _log.warning("reading the store's change marker failed (retrying): %s", exc)
            self._failing = True
            return ""
        self._failing = False
        return marker

    async def _watch(self, started: asyncio.Event) -> None:
        try:
            last = await self._marker()
        finally:
            started.set()
        while not self.closed:
            await asyncio.sleep(self._interval)
            marker = await self._marker()
            if marker is None or marker != last:
                last = marker
                self._bump()
