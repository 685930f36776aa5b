"""Helpers for testing jobs: a controllable clock.

``ManualClock`` makes durable waits and retry delays elapse at once: when the engine sleeps,
the clock jumps forward instead. Pass it to ``Client(clock=...)``.
"""

from __future__ import annotations

import asyncio
import time
from typing import final


@final
class ManualClock:
    """A clock that only moves when told to, or when the engine sleeps (it jumps ahead)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self.slept = 0.0

    def now(self) -> float:
        """The clock's current time (epoch seconds)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        if seconds < 0:
            raise ValueError("ManualClock.advance: seconds must be >= 0")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """Jump forward by ``seconds`` and yield to the event loop once."""
        self.slept += max(0.0, seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


__all__ = ["ManualClock"]
