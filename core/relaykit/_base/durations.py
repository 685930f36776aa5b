"""Durations in seconds that users hand to relaykit: one check and one message for all of them.

A delay becomes a due time in the database, so it must be a real number that a due time can
hold: NaN compares false with everything (a wait on it would never come due, or always be),
infinity overflows, and ``1e308`` seconds is no date at all. Every duration argument (waits,
event delays, retry timeouts, ``RetryAfter``) is checked here at the call, and the error names
the argument, the value and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from typing import Final

MAX_SECONDS: Final = 3_155_760_000.0
"""The longest delay relaykit accepts: 100 years (of 365.25 days). Anything longer is a unit
mistake (milliseconds for seconds), and far enough out that no date overflows."""

ALLOWED: Final = f"a finite number of seconds from 0 to {MAX_SECONDS:.0f} (100 years)"


def finite(value: object) -> float | None:
    """``value`` as a float when it is a finite real number (never a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def as_seconds(value: object, *, maximum: float = MAX_SECONDS) -> float | None:
    """``value`` as float seconds when it is a finite real number from 0 to ``maximum``
    (never a bool), else None."""
    number = finite(value)
    return number if number is not None and 0 <= number <= maximum else None


def check_seconds(
    value: object, what: str, *, error: type[Exception], maximum: float = MAX_SECONDS
) -> float:
    """``value`` as float seconds; raises ``error("<what> must be ...; got <value>")`` when it
    is not a finite number from 0 to ``maximum``."""
    number = as_seconds(value, maximum=maximum)
    if number is None:
        allowed = ALLOWED if maximum == MAX_SECONDS else f"a finite number from 0 to {maximum:g}"
        raise error(f"{what} must be {allowed}; got {value!r}")
    return number


def total_seconds(where: str, *, error: type[Exception], **parts: tuple[object, float]) -> float:
    """The sum of ``name=(value, unit in seconds)`` parts (``io.wait``'s ``seconds=``,
    ``minutes=``...): each part a finite number, the total one ``check_seconds`` accepts."""
    total = 0.0
    for name, (value, unit) in parts.items():
        number = finite(value)
        if number is None:
            raise error(f"{where}: {name} must be a finite number, got {value!r}")
        total += number * unit
    return check_seconds(total, f"{where}: the total duration", error=error)
