"""``ManualClock``: time under a test's control.

Durable waits and retry delays elapse at once: when the engine sleeps, the clock jumps forward
instead. ``relaykit_env`` gives every bound client one; pass it to ``Client(clock=...)`` to use
it on its own.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import final


@final
class ManualClock:
    """A clock that only moves when told to, or when the engine sleeps (it jumps ahead).

    ``start`` is epoch seconds or a timezone-aware datetime (default: the real time now).
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        if isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError(
                    f"ManualClock(start={start!r}): use a timezone-aware datetime, "
                    "e.g. datetime(2026, 7, 1, tzinfo=UTC)"
                )
            start = start.timestamp()
        self._now = time.time() if start is None else float(start)
        self.slept = 0.0

    def __repr__(self) -> str:
        return f"<ManualClock {datetime.fromtimestamp(self._now, UTC).isoformat()}>"

    def now(self) -> float:
        """The clock's current time (epoch seconds)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward (nothing runs: ``env.advance`` also executes what became due)."""
        if seconds < 0:
            raise ValueError(f"ManualClock.advance: seconds must be >= 0, got {seconds}")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """Jump forward by ``seconds`` and yield to the event loop once."""
        self.slept += max(0.0, seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


__all__ = ["ManualClock"]
