"""Serialization: values are handed back restored, typed by the function's annotation."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from relaykit import JsonTooDeep, parse_json
from relaykit._base.serde import MAX_JSON_DEPTH, dumps, restore, return_hint
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


# -- the nesting limit (MAX_JSON_DEPTH) -------------------------------------------------------


def nested(depth: int, *, kind: str = "list") -> Any:
    """A value whose arrays (or objects) nest exactly ``depth`` levels."""
    value: Any = [] if kind == "list" else {}
    for _ in range(depth - 1):
        value = [value] if kind == "list" else {"a": value}
    return value


def depth_of(value: Any) -> int:
    """The reference: how deeply a parsed value's containers nest."""
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_json_at_the_limit_parses_and_one_level_more_is_json_too_deep(kind: str) -> None:
    at_limit = json.dumps(nested(MAX_JSON_DEPTH, kind=kind))
    assert depth_of(parse_json(at_limit)) == MAX_JSON_DEPTH
    assert depth_of(json.loads(dumps(nested(MAX_JSON_DEPTH, kind=kind), what="v"))) == 200
    over = json.dumps(nested(MAX_JSON_DEPTH + 1, kind=kind))
    with pytest.raises(JsonTooDeep, match="the body nests arrays and objects more than 200"):
        parse_json(over, what="the body")
    with pytest.raises(JsonTooDeep, match="the payload nests"):
        dumps(nested(MAX_JSON_DEPTH + 1, kind=kind), what="the payload")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,  # would be a RecursionError in json.loads
        '{"a":' * 3000 + "1" + "}" * 3000,
        "[" * 5000,  # unclosed: a parser recurses into it all the same
        b"[" * 1000 + b"]" * 1000,  # bytes, as a request body arrives
        ("[" * 201 + "]" * 201).encode("utf-16"),  # any encoding json.loads accepts
    ],
)
def test_deep_json_is_one_error_never_a_recursion_error(text: str | bytes) -> None:
    with pytest.raises(JsonTooDeep) as caught:
        parse_json(text)
    # A ValueError and a SerializationError: code catching either keeps working.
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, SerializationError)


def test_a_deep_python_value_is_json_too_deep_not_a_serialization_mystery() -> None:
    # pydantic-core refuses on its own beyond 254 levels; the message still says why.
    for depth in (MAX_JSON_DEPTH + 1, 254, 255, 5000):
        with pytest.raises(JsonTooDeep, match="200 levels"):
            dumps(nested(depth), what="the payload")


@pytest.mark.parametrize(
    "value",
    [
        ["[" * 1000],  # brackets inside a string are not structure
        {"{" * 300: "[" * 300},  # nor inside a key
        ['\\"[' * 500],  # an escaped quote does not end the string
        ["\\\\", "[" * 300, '"'],  # nor does an escaped backslash hide the closing quote
        [""] * 500 + [["[]"] * 300],  # empty strings next to each other
        [{"a": [i, {"b": "x[y"}]} for i in range(500)],  # wide and shallow
    ],
)
def test_brackets_inside_strings_do_not_count(value: Any) -> None:
    assert parse_json(json.dumps(value)) == value
    assert json.loads(dumps(value, what="v")) == value


def test_the_depth_scan_agrees_with_the_parsed_depth_on_random_values() -> None:
    rng = random.Random(20261202)
    alphabet = ['"', "\\", "[", "]", "{", "}", "a", "\u00e9", "\x00", " "]

    def scalar() -> Any:
        return rng.choice([1, None, "".join(rng.choices(alphabet, k=rng.randint(0, 6)))])

    def make(depth: int, spine: bool) -> Any:
        """A container ``depth`` deep along one spine, with shallow siblings at each level."""
        if depth == 0:
            return scalar()
        width = rng.randint(0, 3)
        children = [make(min(depth - 1, 2), False) if spine else scalar() for _ in range(width)]
        if spine:
            children.insert(rng.randint(0, width), make(depth - 1, True))
        if rng.random() < 0.5:
            return children
        return {"".join(rng.choices(alphabet, k=3)) + str(i): c for i, c in enumerate(children)}

    for _ in range(300):
        value = make(rng.choice([3, 190, 199, 200, 201, 205]), True)
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        if depth_of(value) > MAX_JSON_DEPTH:
            with pytest.raises(JsonTooDeep):
                parse_json(text)
        else:
            assert parse_json(text) == value


def test_parse_json_refuses_nan_as_json_does_not_have_it() -> None:
    with pytest.raises(ValueError, match="NaN is not a JSON value"):
        parse_json('{"x": NaN}')
    assert parse_json('"a\\u0000b"') == "a\x00b"  # a NUL inside a string is fine
