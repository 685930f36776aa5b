"""Retry maths, as a table: one row per case."""

from __future__ import annotations

import random

import pytest

from relaykit import Retry


@pytest.mark.parametrize(
    ("policy", "failures", "expected"),
    [
        # first retry waits min_timeout
        (Retry(limit=5, factor=2, min_timeout=1, max_timeout=60, randomize=False), 1, 1.0),
        # then grows by factor per failure
        (Retry(limit=5, factor=2, min_timeout=1, max_timeout=60, randomize=False), 2, 2.0),
        (Retry(limit=5, factor=2, min_timeout=1, max_timeout=60, randomize=False), 4, 8.0),
        # capped at max_timeout
        (Retry(limit=20, factor=2, min_timeout=1, max_timeout=5, randomize=False), 10, 5.0),
        # limit counts the first attempt: 3 failures with limit 3 -> no more attempts
        (Retry(limit=3, randomize=False), 3, None),
        # limit=1 never retries
        (Retry(limit=1), 1, None),
        # the defaults (DESIGN §3): 1.8 factor from 1 s
        (Retry(randomize=False), 2, 1.8),
    ],
)
def test_delay_table(policy: Retry, failures: int, expected: float | None) -> None:
    assert policy.delay(failures) == (None if expected is None else pytest.approx(expected))


def test_randomized_delay_stays_between_one_and_two_times_the_base() -> None:
    policy = Retry(limit=10, factor=2, min_timeout=1, max_timeout=1000)
    rng = random.Random(7)
    delays = [policy.delay(3, rng) for _ in range(200)]
    assert all(d is not None and 4.0 <= d < 8.0 for d in delays)
    assert len(set(delays)) > 100  # jittered, not constant


def test_defaults_match_the_design() -> None:
    assert Retry() == Retry(limit=5, factor=1.8, min_timeout=1.0, max_timeout=60.0, randomize=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},  # at least one attempt
        {"factor": 0.5},  # delays must not shrink
        {"min_timeout": 10, "max_timeout": 1},  # min above max
        {"min_timeout": -1},  # negative delay
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Retry"):
        Retry(**kwargs)  # type: ignore[arg-type]  # the table mixes int and float fields
