"""Time, injected: the engine never calls ``time.time()`` directly."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from typing import Protocol, final


class Clock(Protocol):
    """Where the engine gets the time and how it sleeps."""

    def now(self) -> float:
        """Seconds since the epoch, UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` (a controllable clock may return at once)."""
        ...


@final
class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Seconds since the epoch, UTC."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of real time."""
        await asyncio.sleep(max(0.0, seconds))


_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str, now: float | None = None) -> str:
    """A time-sortable unique id (a lowercase ULID) with a prefix: ``run_01j...``."""
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def new_owner_id() -> str:
    """An id for a worker process: host-independent, unique, readable in logs."""
    return f"w-{os.getpid()}-{secrets.token_hex(4)}"
