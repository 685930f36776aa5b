"""Retry policies for tasks: exponential backoff with optional jitter."""

from __future__ import annotations

import random as _random
from dataclasses import dataclass
from typing import final


@final
@dataclass(frozen=True, slots=True)
class Retry:
    """How a failing task is retried.

    ``limit`` is the maximum number of attempts *including the first*: ``Retry(limit=1)`` never
    retries. The delay before attempt ``n + 1`` (after ``n`` failed attempts) is
    ``min_timeout * factor ** (n - 1)``, multiplied by a random factor in ``[1, 2)`` when
    ``randomize`` is true (the jitter Trigger.dev v2 uses), and capped at ``max_timeout``.
    """

    limit: int = 5
    factor: float = 1.8
    min_timeout: float = 1.0
    max_timeout: float = 60.0
    randomize: bool = True

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(
                f"Retry.limit must be at least 1 (attempts, incl. the first), got {self.limit}"
            )
        if self.factor < 1:
            raise ValueError(f"Retry.factor must be >= 1, got {self.factor}")
        if self.min_timeout < 0 or self.max_timeout < self.min_timeout:
            raise ValueError(
                "Retry timeouts must satisfy 0 <= min_timeout <= max_timeout, "
                f"got min_timeout={self.min_timeout}, max_timeout={self.max_timeout}"
            )

    def delay(self, failures: int, rng: _random.Random | None = None) -> float | None:
        """Seconds to wait after ``failures`` failed attempts, or None when none are left."""
        if failures >= self.limit:
            return None
        delay = self.min_timeout * self.factor ** max(failures - 1, 0)
        if self.randomize:
            delay *= 1.0 + (rng or _random).random()
        return min(delay, self.max_timeout)


NO_RETRY = Retry(limit=1)
"""A policy that never retries."""
