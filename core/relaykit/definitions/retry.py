"""Retry policies for tasks: exponential backoff with optional jitter."""

from __future__ import annotations

import math
import random as _random
from dataclasses import dataclass
from typing import final

from .._base.durations import check_seconds, finite
from ..errors import ConfigurationError


@final
@dataclass(frozen=True, slots=True)
class Retry:
    """How a failing task is retried.

    ``limit`` is the maximum number of attempts *including the first*: ``Retry(limit=1)`` never
    retries. The delay before attempt ``n + 1`` (after ``n`` failed attempts) is
    ``min_timeout * factor ** (n - 1)``, multiplied by a random factor in ``[1, 2)`` when
    ``randomize`` is true (the jitter Trigger.dev v2 uses), and capped at ``max_timeout``.

    Every field is checked when the policy is made (``ConfigurationError``, naming the field and
    the value): ``limit`` a whole number >= 1, ``factor`` a finite number >= 1, the timeouts
    finite seconds from 0 to 100 years with ``min_timeout <= max_timeout``.
    """

    limit: int = 5
    factor: float = 1.8
    min_timeout: float = 1.0
    max_timeout: float = 60.0
    randomize: bool = True

    def __post_init__(self) -> None:
        limit, factor = self.limit, self.factor
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigurationError(
                "Retry: limit must be a whole number of attempts >= 1 (the first one "
                f"included), got {limit!r}"
            )
        growth = finite(factor)
        if growth is None or growth < 1:
            raise ConfigurationError(f"Retry: factor must be a finite number >= 1, got {factor!r}")
        low = check_seconds(self.min_timeout, "Retry: min_timeout", error=ConfigurationError)
        high = check_seconds(self.max_timeout, "Retry: max_timeout", error=ConfigurationError)
        if high < low:
            raise ConfigurationError(
                "Retry timeouts must satisfy min_timeout <= max_timeout, "
                f"got min_timeout={self.min_timeout!r}, max_timeout={self.max_timeout!r}"
            )
        if not isinstance(self.randomize, bool):
            raise ConfigurationError(
                f"Retry: randomize must be True or False, got {self.randomize!r}"
            )

    def delay(self, failures: int, rng: _random.Random | None = None) -> float | None:
        """Seconds to wait after ``failures`` failed attempts, or None when none are left."""
        if failures >= self.limit:
            return None
        try:
            growth = float(self.factor) ** max(failures - 1, 0)
        except OverflowError:  # a long run of failures: the growth passed any cap long ago
            growth = math.inf
        delay = self.min_timeout * growth if self.min_timeout else 0.0
        if self.randomize:
            delay *= 1.0 + (rng or _random).random()
        return min(delay, self.max_timeout)


NO_RETRY = Retry(limit=1)
"""A policy that never retries."""
