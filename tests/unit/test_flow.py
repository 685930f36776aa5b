"""Flow-control options: payload paths, groups and the claim admission rule."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import Concurrency, ConcurrencyLimit, Debounce, InvalidJobDefinition, Throttle
from relaykit.definitions.flow import CancelOn, Flow, lookup
from relaykit.store._rows import admit


@pytest.mark.parametrize(
    ("payload", "path", "value"),
    [
        ({"user": {"id": 7}}, "user.id", 7),  # nested objects
        ({"items": [{"sku": "a"}, {"sku": "b"}]}, "items.1.sku", "b"),  # a list index
        ({"user": {}}, "user.id", None),  # absent: None, not an error
        ({"user": "ada"}, "user.id", None),  # through a scalar: None
        (None, "user", None),  # no payload at all
    ],
)
def test_lookup_follows_dotted_paths(payload: Any, path: str, value: Any) -> None:
    assert lookup(payload, path) == value


def test_groups_name_the_job_the_key_value_and_the_shared_limit() -> None:
    flow = Flow.build(
        "sync",
        concurrency_limit=[3, Concurrency(key="user.id"), ConcurrencyLimit("api", 5)],
        throttle=Throttle(limit=10, period=60),
    )
    groups = flow.groups({"user": {"id": 42}})
    assert [(g.name, g.limit, g.period) for g in groups] == [
        ("job:sync", 3, None),
        ("job:sync:user.id=42", 1, None),
        ("shared:api", 5, None),
        ("throttle:sync", 10, 60),
    ]


def test_long_key_values_are_hashed_to_a_bounded_group_name() -> None:
    flow = Flow.build("j", concurrency_limit=Concurrency(key="doc"))
    name = flow.groups({"doc": "x" * 10_000})[0].name
    assert len(name) < 100


def test_keys_for_idempotency_debounce_and_cancel() -> None:
    flow = Flow.build(
        "j",
        idempotency_key=lambda p: p["order"],
        debounce=Debounce(seconds=5),
        cancel_on=CancelOn(event="order.canceled", match="order"),
    )
    assert flow.idempotency({"order": "A-1"}) == '"A-1"'
    assert flow.debounce_key({"order": "A-1"}) == "*"  # no key: one queue for the job
    run_key = flow.cancel_key({"order": "A-1"})
    assert run_key == flow.event_cancel_key("order.canceled", {"order": "A-1"})
    assert flow.event_cancel_key("order.canceled", {"order": "A-2"}) != run_key
    assert flow.event_cancel_key("order.placed", {"order": "A-1"}) is None


@pytest.mark.parametrize(
    ("busy", "expected"),
    [
        ({}, ["a1", "free", "b1"]),  # one slot per group: the second of each waits
        ({"g:a": 1}, ["free", "b1"]),  # group a is full already
        ({"t": 2}, ["a1", "free", "b1"]),  # a full throttle does not hold back started runs
    ],
)
def test_admit_never_exceeds_a_group(busy: dict[str, int], expected: list[str]) -> None:
    candidates = [
        ("a1", True, True),
        ("a2", True, True),
        ("free", False, False),
        ("b1", True, False),
        ("b2", True, False),
    ]
    groups = [
        ("a1", "g:a", 1, None),
        ("a2", "g:a", 1, None),
        ("a1", "t", 2, 60.0),
        ("a2", "t", 2, 60.0),
        ("b1", "g:b", 1, None),
        ("b2", "g:b", 1, None),
    ]
    assert admit(candidates, groups, dict(busy), limit=10) == expected


def test_admit_stops_at_the_claim_limit() -> None:
    assert admit([("x", False, False), ("y", False, False)], [], {}, limit=1) == ["x"]


def test_a_throttle_limits_first_starts() -> None:
    candidates = [("new1", True, False), ("new2", True, False), ("old", True, True)]
    groups = [(r, "t", 1, 60.0) for r, _, _ in candidates]
    assert admit(candidates, groups, {}, limit=10) == ["new1", "old"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"throttle": 5}, "throttle must be Throttle"),
        ({"cancel_on": "order.canceled"}, "cancel_on must be CancelOn"),
        ({"timeout": float("nan")}, "timeout must be"),
        ({"concurrency_limit": True}, "concurrency_limit must be a positive integer"),
    ],
)
def test_bad_options_name_the_job_and_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidJobDefinition, match=f"job 'j': {message}"):
        Flow.build("j", **options)
