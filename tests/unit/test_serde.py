"""Serialization: values are handed back restored, typed by the function's annotation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from relaykit._serde import dumps, restore, return_hint
from relaykit.errors import SerializationError


class Point(BaseModel):
    x: int
    y: int


@dataclass
class Pair:
    a: int
    b: str


def gives_point() -> Point:
    return Point(x=1, y=2)


def gives_when() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


def test_model_round_trips_to_the_model() -> None:
    text = dumps(gives_point(), what="t")
    assert restore(text, return_hint(gives_point)) == Point(x=1, y=2)


def test_datetime_round_trips_with_an_annotation() -> None:
    text = dumps(gives_when(), what="t")
    assert restore(text, return_hint(gives_when)) == datetime(2026, 1, 1, tzinfo=UTC)


def test_without_annotation_json_types_come_back() -> None:
    assert restore(dumps((1, 2), what="t")) == [1, 2]
    assert restore(dumps(Pair(1, "x"), what="t")) == {"a": 1, "b": "x"}


def test_lambdas_share_the_cached_hint() -> None:
    fns: list[Callable[[], int]] = [lambda: 1 for _ in range(3)]
    assert len({id(f) for f in fns}) == 3
    for f in fns:
        assert restore(dumps(f(), what="t"), return_hint(f)) == 1


def test_unserializable_value_names_the_thing() -> None:
    with pytest.raises(SerializationError, match="task 'x' output"):
        dumps(object(), what="task 'x' output")


def test_value_not_matching_the_annotation_is_an_error() -> None:
    def says_int() -> int:
        return 1

    with pytest.raises(SerializationError, match="declared return type"):
        restore('"not a number"', return_hint(says_int), what="task 'k' output")
