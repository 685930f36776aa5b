"""Retry maths, as a table: one row per case."""

from __future__ import annotations

import random

import pytest

from relaykit import Retry, RetryAfter
from relaykit.errors import ConfigurationError


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


ALLOWED = "a finite number of seconds from 0 to 3155760000 (100 years)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "Retry: limit must be a whole number of attempts >= 1"),
        ({"limit": float("inf")}, "Retry: limit must be a whole number of attempts >= 1"),
        ({"limit": float("nan")}, "got nan"),
        ({"limit": 2.5}, "got 2.5"),
        ({"limit": True}, "got True"),  # a bool is not a count
        ({"factor": float("nan")}, "Retry: factor must be a finite number >= 1, got nan"),
        ({"factor": float("inf")}, "Retry: factor must be a finite number >= 1, got inf"),
        ({"factor": 0.5}, "got 0.5"),
        ({"min_timeout": float("nan")}, f"Retry: min_timeout must be {ALLOWED}; got nan"),
        ({"min_timeout": float("inf")}, f"Retry: min_timeout must be {ALLOWED}; got inf"),
        ({"min_timeout": -1}, f"Retry: min_timeout must be {ALLOWED}; got -1"),
        ({"max_timeout": float("nan")}, f"Retry: max_timeout must be {ALLOWED}; got nan"),
        ({"max_timeout": float("inf")}, f"Retry: max_timeout must be {ALLOWED}; got inf"),
        ({"max_timeout": 1e308}, f"Retry: max_timeout must be {ALLOWED}; got 1e+308"),
        ({"min_timeout": 10, "max_timeout": 1}, "min_timeout <= max_timeout"),
        ({"randomize": "yes"}, "Retry: randomize must be True or False, got 'yes'"),
    ],
)
def test_each_field_names_itself_and_its_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Retry(**kwargs)  # type: ignore[arg-type]  # deliberately wrong values
    assert message in caught.value.message


@pytest.mark.parametrize("failures", [1_100, 5_000, 1_000_000])
@pytest.mark.parametrize("factor", [2, 1.8, 1e300])
def test_a_long_run_of_failures_is_capped_not_an_overflow(factor: float, failures: int) -> None:
    # 2 ** 1100 is no float: the delay is the cap, not an OverflowError in the engine.
    policy = Retry(limit=10**7, factor=factor, max_timeout=30, randomize=False)
    assert policy.delay(failures) == 30.0
    assert Retry(limit=10**7, factor=factor, min_timeout=0, max_timeout=0).delay(failures) == 0.0


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (-1, "-1"),
        (1e308, "1e+308"),
        (10**400, "1" + "0" * 400),  # an int no float can hold
        ("5", "'5'"),
        (True, "True"),
    ],
)
def test_retry_after_refuses_what_no_due_time_can_hold(seconds: object, shown: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RetryAfter(seconds)  # type: ignore[arg-type]  # deliberately wrong values
    assert caught.value.message == f"RetryAfter: seconds must be {ALLOWED}; got {shown}"


def test_retry_after_accepts_the_whole_range() -> None:
    assert RetryAfter(0).seconds == 0.0
    assert RetryAfter(7).seconds == 7.0
    assert RetryAfter(RetryAfter.MAX_SECONDS).seconds == RetryAfter.MAX_SECONDS
    assert str(RetryAfter(1.5)) == "retry after 1.5s"
