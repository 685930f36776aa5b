"""EventFilter matching and validation, as tables: one row per case, a comment per row."""

from __future__ import annotations

import re
from typing import Any

import pytest

from relaykit import InvalidJobDefinition, merge_filters
from relaykit.definitions.filters import matches, validate_filter

USER: dict[str, Any] = {
    "name": "Ada",
    "age": 36,
    "score": 9.5,
    "admin": False,
    "plan": "pro",
    "id": "42",
    "deleted_at": None,
    "tags": ["beta", "vip"],
    "flags": [True],
    "address": {"city": "London", "zip": "N1", "geo": {"lat": 51.5}},
    "orders": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 5, "gift": True}],
}

Row = tuple[dict[str, Any], Any, bool]


def check(filter: dict[str, Any], payload: Any, expected: bool) -> None:
    validate_filter(filter, where="test")  # every table filter is a valid one
    assert matches(filter, payload) is expected


PLAIN_VALUES: list[Row] = [
    ({}, USER, True),  # the empty filter matches everything
    ({"plan": ["pro"]}, USER, True),  # equal to the only value
    ({"plan": ["free", "pro"]}, USER, True),  # one of several values
    ({"plan": ["free", "team"]}, USER, False),  # none of them
    ({"plan": ["PRO"]}, USER, False),  # case matters for plain values
    ({"age": [36]}, USER, True),  # a number
    ({"age": [36.0]}, USER, True),  # 36 == 36.0, as in JSON
    ({"age": [35, 37]}, USER, False),  # not one of these numbers
    ({"admin": [False]}, USER, True),  # a boolean
    ({"admin": [True]}, USER, False),  # the other boolean
    ({"plan": ["pro"], "age": [36]}, USER, True),  # AND: both keys match
    ({"plan": ["pro"], "age": [99]}, USER, False),  # AND: one key fails, all fail
    ({"id": ["42", 42]}, USER, True),  # a list may mix scalar types
    ({"tags": ["beta"]}, USER, False),  # the value is compared whole: use $includes
    ({"tags": ["beta", "vip"]}, USER, False),  # ... even against the same elements
    ({"plan": ["pro"]}, None, False),  # a null payload matches only the empty filter
    ({}, None, True),  # ... which it does
    ({"plan": ["pro"]}, "pro", False),  # a scalar payload has no keys
    ({"plan": ["pro"]}, [{"plan": "free"}, {"plan": "pro"}], True),  # a list: any element
]

TYPE_MISMATCHES: list[Row] = [
    ({"id": [42]}, USER, False),  # "42" is not 42
    ({"age": ["36"]}, USER, False),  # 36 is not "36"
    ({"admin": [0]}, USER, False),  # False is not 0
    ({"flags": [1]}, {"flags": True}, False),  # True is not 1
    ({"n": [1]}, {"n": True}, False),  # ... in either direction
    ({"n": [True]}, {"n": 1}, False),  # a number is not a bool
    ({"n": [0]}, {"n": 0.0}, True),  # but int and float are both numbers
    ({"id": [{"$gt": 10}]}, USER, False),  # a numeric string never compares
    ({"admin": [{"$lt": 1}]}, USER, False),  # False is not a number
    ({"n": [{"$gte": 1}]}, {"n": True}, False),  # True is not a number
    ({"n": [{"$between": [0, 1]}]}, {"n": False}, False),  # False is not 0
    ({"age": [{"$startsWith": "3"}]}, USER, False),  # a number is not a string
    ({"n": [{"$gt": 1}]}, {"n": float("nan")}, False),  # NaN compares with nothing
    ({"n": [{"$lte": 1}]}, {"n": None}, False),  # null is not a number
]

STRING_OPERATORS: list[Row] = [
    ({"name": [{"$startsWith": "Ad"}]}, USER, True),  # prefix
    ({"name": [{"$startsWith": "da"}]}, USER, False),  # not a prefix
    ({"name": [{"$startsWith": "ad"}]}, USER, False),  # prefixes are case sensitive
    ({"name": [{"$startsWith": ""}]}, USER, True),  # the empty prefix
    ({"name": [{"$endsWith": "da"}]}, USER, True),  # suffix
    ({"name": [{"$endsWith": "Ad"}]}, USER, False),  # not a suffix
    ({"name": [{"$startsWith": "A"}, {"$endsWith": "a"}]}, USER, True),  # all must hold
    ({"name": [{"$startsWith": "A"}, {"$endsWith": "x"}]}, USER, False),  # one fails
    ({"tags": [{"$startsWith": "b"}]}, USER, False),  # a list is not a string
    ({"name": [{"$ignoreCaseEquals": "ADA"}]}, USER, True),  # case-insensitive equality
    ({"name": [{"$ignoreCaseEquals": "ad"}]}, USER, False),  # equality, not a prefix
    ({"s": [{"$ignoreCaseEquals": "STRASSE"}]}, {"s": "straße"}, True),  # full case folding
    ({"s": [{"$ignoreCaseEquals": "cafe"}]}, {"s": "café"}, False),  # accents still count
    ({"age": [{"$ignoreCaseEquals": "36"}]}, USER, False),  # a number is not a string
]

EXISTENCE_OPERATORS: list[Row] = [
    ({"name": [{"$exists": True}]}, USER, True),  # present
    ({"nope": [{"$exists": True}]}, USER, False),  # absent
    ({"nope": [{"$exists": False}]}, USER, True),  # absent, as required
    ({"name": [{"$exists": False}]}, USER, False),  # present, but must not be
    ({"deleted_at": [{"$exists": True}]}, USER, True),  # null counts as present
    ({"deleted_at": [{"$isNull": True}]}, USER, True),  # null
    ({"name": [{"$isNull": True}]}, USER, False),  # not null
    ({"name": [{"$isNull": False}]}, USER, True),  # not null, as required
    ({"deleted_at": [{"$isNull": False}]}, USER, False),  # null, but must not be
    ({"nope": [{"$isNull": True}]}, USER, False),  # absent is not null (Trigger.dev)
    ({"nope": [{"$isNull": False}]}, USER, True),  # ... so absent is "not null"
    ({"deleted_at": [{"$exists": True}, {"$isNull": True}]}, USER, True),  # present and null
]

NEGATION_OPERATORS: list[Row] = [
    ({"plan": [{"$anythingBut": "free"}]}, USER, True),  # a different value
    ({"plan": [{"$anythingBut": "pro"}]}, USER, False),  # the excluded value
    ({"plan": [{"$anythingBut": ["free", "team"]}]}, USER, True),  # none of a list
    ({"plan": [{"$anythingBut": ["free", "pro"]}]}, USER, False),  # one of the list
    ({"plan": [{"$anythingBut": []}]}, USER, True),  # excluding nothing
    ({"age": [{"$anythingBut": 36}]}, USER, False),  # numbers
    ({"admin": [{"$anythingBut": 0}]}, USER, True),  # False is not 0
    ({"deleted_at": [{"$anythingBut": "x"}]}, USER, True),  # null is not "x"
    ({"nope": [{"$anythingBut": "x"}]}, USER, False),  # absent fails (Trigger.dev: matches)
    ({"plan": [{"$not": "free"}]}, USER, True),  # $not with a value: a different scalar
    ({"plan": [{"$not": "pro"}]}, USER, False),  # the same scalar
    ({"age": [{"$not": 39}]}, USER, True),  # numbers
    ({"admin": [{"$not": True}]}, USER, True),  # booleans
    ({"admin": [{"$not": False}]}, USER, False),  # the same boolean
    ({"tags": [{"$not": "gaming"}]}, USER, True),  # a list not containing it
    ({"tags": [{"$not": "vip"}]}, USER, False),  # a list containing it
    ({"deleted_at": [{"$not": "x"}]}, USER, False),  # null: false, as in Trigger.dev
    ({"address": [{"$not": "x"}]}, USER, False),  # an object: false, as in Trigger.dev
    ({"nope": [{"$not": "x"}]}, USER, False),  # absent: false
    ({"name": [{"$not": {"$startsWith": "A"}}]}, USER, False),  # $not wraps an operator
    ({"name": [{"$not": {"$startsWith": "B"}}]}, USER, True),  # ... and negates it
    ({"age": [{"$not": {"$between": [30, 40]}}]}, USER, False),  # inside the range
    ({"age": [{"$not": {"$between": [40, 50]}}]}, USER, True),  # outside the range
    ({"tags": [{"$not": {"$includes": "vip"}}]}, USER, False),  # contains it
    ({"nope": [{"$not": {"$startsWith": "A"}}]}, USER, False),  # absent still fails
    ({"nope": [{"$not": {"$exists": True}}]}, USER, True),  # ... except around $exists
    ({"name": [{"$not": {"$exists": True}}]}, USER, False),  # present
    ({"nope": [{"$not": {"$isNull": True}}]}, USER, True),  # ... and around $isNull
    ({"name": [{"$not": {"$not": "Ada"}}]}, USER, True),  # double negation
]

NUMERIC_OPERATORS: list[Row] = [
    ({"age": [{"$gt": 35}]}, USER, True),  # above
    ({"age": [{"$gt": 36}]}, USER, False),  # $gt is strict
    ({"age": [{"$gte": 36}]}, USER, True),  # $gte includes the bound
    ({"age": [{"$gte": 37}]}, USER, False),  # below
    ({"age": [{"$lt": 37}]}, USER, True),  # below
    ({"age": [{"$lt": 36}]}, USER, False),  # $lt is strict
    ({"age": [{"$lte": 36}]}, USER, True),  # $lte includes the bound
    ({"age": [{"$lte": 35.5}]}, USER, False),  # above a float bound
    ({"score": [{"$gt": 9}]}, USER, True),  # a float value
    ({"age": [{"$gt": 20}, {"$lt": 40}]}, USER, True),  # a range from two conditions
    ({"age": [{"$gt": 20}, {"$lt": 30}]}, USER, False),  # one of them fails
    ({"age": [{"$between": [30, 40]}]}, USER, True),  # inside
    ({"age": [{"$between": [36, 40]}]}, USER, True),  # the low bound is inclusive
    ({"age": [{"$between": [30, 36]}]}, USER, True),  # the high bound is inclusive
    ({"age": [{"$between": [36, 36]}]}, USER, True),  # a one-point range
    ({"age": [{"$between": [37, 40]}]}, USER, False),  # below
    ({"age": [{"$between": [0, 35.9]}]}, USER, False),  # above
    ({"t": [{"$lt": 0}]}, {"t": -1e300}, True),  # negative numbers
    ({"t": [{"$gt": 0}]}, {"t": float("inf")}, True),  # infinity is a number
]

INCLUDES: list[Row] = [
    ({"tags": [{"$includes": "vip"}]}, USER, True),  # the list contains it
    ({"tags": [{"$includes": "gaming"}]}, USER, False),  # it does not
    ({"tags": [{"$includes": "vi"}]}, USER, False),  # elements, not substrings
    ({"name": [{"$includes": "A"}]}, USER, False),  # a string is not a list
    ({"flags": [{"$includes": True}]}, USER, True),  # a boolean element
    ({"flags": [{"$includes": 1}]}, USER, False),  # True is not 1
    ({"n": [{"$includes": 2}]}, {"n": [1, 2.0]}, True),  # 2 == 2.0
    ({"tags": [{"$includes": "beta"}, {"$includes": "vip"}]}, USER, True),  # contains both
    ({"tags": [{"$includes": "beta"}, {"$includes": "x"}]}, USER, False),  # only one
]

NESTED: list[Row] = [
    ({"address": {"city": ["London"]}}, USER, True),  # recurse into an object
    ({"address": {"city": ["Paris"]}}, USER, False),  # a nested mismatch
    ({"address": {"geo": {"lat": [{"$gt": 50}]}}}, USER, True),  # two levels deep
    ({"address": {"city": ["London"], "zip": ["E1"]}}, USER, False),  # AND inside
    ({"address": {}}, USER, True),  # an empty mapping matches anything
    ({"nope": {}}, USER, True),  # ... even a missing key
    ({"address": {"nope": [{"$exists": False}]}}, USER, True),  # absence inside an object
    ({"orders": {"sku": ["B2"]}}, USER, True),  # a list of objects: any element
    ({"orders": {"sku": ["C3"]}}, USER, False),  # no element
    ({"orders": {"sku": ["B2"], "qty": [5]}}, USER, True),  # one element matches all keys
    ({"orders": {"sku": ["A1"], "qty": [5]}}, USER, False),  # keys split across elements
    ({"orders": {"gift": [{"$exists": True}]}}, USER, True),  # a key only one element has
    ({"orders": {"qty": [{"$gt": 10}]}}, USER, False),  # operators on every element
    ({"orders": {"sku": ["A1"]}}, {"orders": []}, False),  # no elements, no match
    ({"g": {"x": [1]}}, {"g": [[{"x": 1}]]}, True),  # lists of lists are searched too
    ({"address": {"city": ["London"]}}, {"address": "London"}, False),  # a scalar is no object
    ({"address": {"city": ["London"]}}, {"address": None}, False),  # nor is null
    ({"address": {"city": ["London"]}}, {}, False),  # nor a missing key
]

MISSING_KEYS: list[Row] = [
    ({"nope": []}, USER, True),  # an empty list matches even a missing key
    ({"nope": ["x"]}, USER, False),  # a missing key equals nothing
    ({"nope": [{"$startsWith": ""}]}, USER, False),  # ... passes no string operator
    ({"nope": [{"$ignoreCaseEquals": ""}]}, USER, False),
    ({"nope": [{"$gte": 0}]}, USER, False),  # ... no numeric operator
    ({"nope": [{"$between": [-1, 1]}]}, USER, False),
    ({"nope": [{"$includes": "x"}]}, USER, False),  # ... no list operator
    ({"nope": [{"$exists": False}, {"$isNull": False}]}, USER, True),  # the absence tests
    ({"plan": ["pro"], "nope": [{"$exists": False}]}, USER, True),  # with other keys
]

ALL_ROWS = (
    PLAIN_VALUES
    + TYPE_MISMATCHES
    + STRING_OPERATORS
    + EXISTENCE_OPERATORS
    + NEGATION_OPERATORS
    + NUMERIC_OPERATORS
    + INCLUDES
    + NESTED
    + MISSING_KEYS
)


@pytest.mark.parametrize(("filter", "payload", "expected"), PLAIN_VALUES)
def test_plain_values(filter: dict[str, Any], payload: Any, expected: bool) -> None:
    check(filter, payload, expected)


@pytest.mark.parametrize(("filter", "payload", "expected"), TYPE_MISMATCHES)
def test_type_mismatches(filter: dict[str, Any], payload: Any, expected: bool) -> None:
    check(filter, payload, expected)


@pytest.mark.parametrize(("filter", "payload", "expected"), STRING_OPERATORS)
def test_string_operators(filter: dict[str, Any], payload: Any, expected: bool) -> None:
    check(filter, payload, expected)


@pytest.mark.parametrize(("filter", "payload", "expected"), EXISTENCE_OPERATORS)
def test_existence_operators(filter: dict[str, Any], payload: Any, expected: bool) -> None:
    check(filter, payload, expected)


@pytest.mark.parametrize(("filter", "payload", "expected"), NEGATION_OPERATORS)
def test_negation_operators(filter: dict[str, Any], payload: Any, expected: bool) -> None:
    check(filter, payload, expected)


@pytest.mark.parametrize(("filter", "payload", "expected"), NUMERIC_OPERATORS)
def test_numeric_operators(filter: dict[str, Any], payload: Any, expected: bool) -> None:
    check(filter, payload, expected)


@pytest.mark.parametrize(("filter", "payload", "expected"), INCLUDES)
def test_includes(filter: dict[str, Any], payload: Any, expected: bool) -> None:
    check(filter, payload, expected)


@pytest.mark.parametrize(("filter", "payload", "expected"), NESTED)
def test_nested_objects_and_lists(filter: dict[str, Any], payload: Any, expected: bool) -> None:
    check(filter, payload, expected)


@pytest.mark.parametrize(("filter", "payload", "expected"), MISSING_KEYS)
def test_missing_keys(filter: dict[str, Any], payload: Any, expected: bool) -> None:
    check(filter, payload, expected)


def test_every_operator_has_a_matching_and_a_failing_row() -> None:
    outcomes: dict[str, set[bool]] = {}
    for filter, _, expected in ALL_ROWS:
        for operator in re.findall(r"'(\$\w+)'", repr(filter)):
            outcomes.setdefault(operator, set()).add(expected)
    assert set(outcomes) == {
        "$startsWith",
        "$endsWith",
        "$ignoreCaseEquals",
        "$exists",
        "$isNull",
        "$anythingBut",
        "$not",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$between",
        "$includes",
    }
    assert all(seen == {True, False} for seen in outcomes.values()), outcomes


INVALID: list[tuple[Any, str, str]] = [
    # (filter, the path named, what the message says about it)
    (["plan"], "filter:", "must be a mapping"),  # the filter itself
    ({1: ["x"]}, "filter:", "keys must be strings"),  # a non-string key
    ({"user": {2: ["x"]}}, "filter.user:", "keys must be strings"),  # ... nested
    ({"plan": "pro"}, "filter.plan:", "{'plan': ['pro']}"),  # a bare scalar leaf
    ({"user": {"plan": "pro"}}, "filter.user.plan:", "must be in a list"),  # ... nested
    ({"age": 5}, "filter.age:", "{'age': [5]}"),  # a bare number
    ({"age": None}, "filter.age:", "$isNull"),  # a bare None
    ({"age": {1, 2}}, "filter.age:", "got set"),  # neither list nor mapping
    ({"age": {"$gt": 5}}, "filter.age:", "{'age': [{'$gt': ...}]}"),  # operator as a key
    ({"$gt": 5}, "filter:", "$gt is an operator"),  # ... at the top
    ({"age": {"$gtt": 5}}, "filter.age.$gtt:", "unknown operator '$gtt'"),  # misspelt
    ({"age": {"$gtt": [5]}}, "filter.age.$gtt:", "unknown operator '$gtt'"),  # ... with a list
    ({"a": [{"$foo": 1}]}, "filter.a[0]:", "unknown operator '$foo'"),  # unknown operator
    ({"a": [{"$gt": 1}, {"$eq": 1}]}, "filter.a[1]:", "unknown operator '$eq'"),  # second one
    ({"a": [{}]}, "filter.a[0]:", "exactly one operator, got 0"),  # an empty object
    ({"a": [{"$gt": 1, "$lt": 5}]}, "filter.a[0]:", "[{'$gt': 1}, {'$lt': 5}]"),  # two keys
    ({"a": [{1: 2}]}, "filter.a[0]:", "expected an operator object"),  # non-string op key
    ({"items": [{"sku": ["a"]}]}, "filter.items[0]:", "{'items': {'sku'"),  # fields in a list
    ({"user": {"plan": ["pro", {"$startsWith": "p"}]}}, "filter.user.plan[1]:", "not both"),
    ({"a": [{"$startsWith": "p"}, "pro"]}, "filter.a[1]:", "not both"),  # mixed, other order
    ({"a": ["x", None]}, "filter.a[1]:", "$isNull"),  # None in a value list
    ({"a": [["x"]]}, "filter.a[0]:", "$includes"),  # a nested list
    ({"a": [float("nan")]}, "filter.a[0]:", "NaN"),  # NaN equals nothing
    ({"a": [object()]}, "filter.a[0]:", "got object"),  # not JSON
    ({"a": [{"$gt": "5"}]}, "filter.a[0]:", "$gt needs a number"),  # a numeric string
    ({"a": [{"$gte": True}]}, "filter.a[0]:", "$gte needs a number"),  # a bool is no number
    ({"a": [{"$lt": None}]}, "filter.a[0]:", "$lt needs a number"),
    ({"a": [{"$lte": float("nan")}]}, "filter.a[0]:", "$lte needs a number"),
    ({"a": [{"$between": [5, 1]}]}, "filter.a[0]:", "$between needs"),  # low > high
    ({"a": [{"$between": [1]}]}, "filter.a[0]:", "$between needs"),  # one bound
    ({"a": [{"$between": [1, 2, 3]}]}, "filter.a[0]:", "$between needs"),  # three
    ({"a": [{"$between": [1, "9"]}]}, "filter.a[0]:", "$between needs"),  # a string bound
    ({"a": [{"$between": [False, 1]}]}, "filter.a[0]:", "$between needs"),  # a bool bound
    ({"a": [{"$between": 3}]}, "filter.a[0]:", "$between needs"),  # not a list
    ({"a": [{"$startsWith": 1}]}, "filter.a[0]:", "$startsWith needs a string"),
    ({"a": [{"$endsWith": None}]}, "filter.a[0]:", "$endsWith needs a string"),
    ({"a": [{"$ignoreCaseEquals": ["x"]}]}, "filter.a[0]:", "$ignoreCaseEquals needs a string"),
    ({"a": [{"$exists": 1}]}, "filter.a[0]:", "$exists needs True or False"),  # 1 is no bool
    ({"a": [{"$isNull": "yes"}]}, "filter.a[0]:", "$isNull needs True or False"),
    ({"a": [{"$anythingBut": None}]}, "filter.a[0]:", "$anythingBut needs"),
    ({"a": [{"$anythingBut": [1, None]}]}, "filter.a[0]:", "$anythingBut needs"),
    ({"a": [{"$anythingBut": {"x": 1}}]}, "filter.a[0]:", "$anythingBut needs"),
    ({"a": [{"$includes": ["x"]}]}, "filter.a[0]:", "$includes needs"),  # one element only
    ({"a": [{"$not": ["x"]}]}, "filter.a[0]:", "$not needs"),  # a list: use $anythingBut
    ({"a": [{"$not": None}]}, "filter.a[0]:", "$not needs"),
    ({"a": [{"$not": {"$foo": 1}}]}, "filter.a[0].$not:", "unknown operator '$foo'"),
    ({"a": [{"$not": {"$gt": "x"}}]}, "filter.a[0].$not:", "$gt needs a number"),
    ({"a": [{"$not": {}}]}, "filter.a[0].$not:", "exactly one operator"),
    ({"weird.key": ["x", {"$gt": 1}]}, "filter['weird.key'][1]:", "not both"),  # quoted key
    ({"u": {"v": {"w": [{"$in": [1]}]}}}, "filter.u.v.w[0]:", "unknown operator '$in'"),
]


@pytest.mark.parametrize(("filter", "path", "fragment"), INVALID)
def test_invalid_filters_name_the_path_and_the_problem(
    filter: Any, path: str, fragment: str
) -> None:
    with pytest.raises(InvalidJobDefinition) as caught:
        validate_filter(filter, where="event_trigger(user.created)")
    message = str(caught.value)
    assert message.startswith(f"event_trigger(user.created): {path} "), message
    assert fragment in message, message
    assert "\n" not in message  # one line


def test_unknown_operator_message_lists_the_known_ones() -> None:
    with pytest.raises(InvalidJobDefinition, match=r"known operators: \$startsWith, .*\$includes"):
        validate_filter({"a": [{"$regex": "x"}]}, where="wait_for_event")


def test_tuples_are_accepted_as_lists() -> None:
    filter = {"plan": ("pro", "team"), "age": ({"$between": (30, 40)},)}
    validate_filter(filter, where="test")
    assert matches(filter, USER)


# --- properties over a spread of payload values ---------------------------------------------

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    1.5,
    -2,
    float("inf"),
    "",
    "a",
    "A",
    "1",
    [],
    ["a"],
    [1, True],
    {},
    {"x": 1},
    [{"x": 1}],
]
PAYLOADS: list[Any] = [{"k": v} for v in VALUES] + [{}, None, "k", [], [{"k": 1}]]
CONDITIONS: list[dict[str, Any]] = [
    {"$startsWith": "a"},
    {"$endsWith": "a"},
    {"$ignoreCaseEquals": "a"},
    {"$exists": True},
    {"$exists": False},
    {"$isNull": True},
    {"$isNull": False},
    {"$anythingBut": ["a", 1]},
    {"$not": "a"},
    {"$not": {"$gt": 0}},
    {"$gt": 0},
    {"$gte": 1},
    {"$lt": 1},
    {"$lte": 0},
    {"$between": [0, 1]},
    {"$includes": "a"},
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_empty_patterns_match_every_payload(payload: Any) -> None:
    assert matches({}, payload)
    assert matches({"k": []}, payload)
    assert matches({"k": {}}, payload)
    assert matches({"k": {"j": []}, "m": []}, payload)


@pytest.mark.parametrize("value", VALUES)
def test_exists_and_is_null_split_every_value_in_two(value: Any) -> None:
    present = {"k": value}
    assert matches({"k": [{"$exists": True}]}, present)
    assert not matches({"k": [{"$exists": False}]}, present)
    assert matches({"k": [{"$isNull": True}]}, present) is (value is None)
    assert matches({"k": [{"$isNull": False}]}, present) is (value is not None)


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("condition", CONDITIONS)
def test_not_negates_every_operator_on_a_present_value(
    condition: dict[str, Any], value: Any
) -> None:
    payload = {"k": value}
    positive = matches({"k": [condition]}, payload)
    assert matches({"k": [{"$not": condition}]}, payload) is not positive


@pytest.mark.parametrize("condition", CONDITIONS)
def test_a_missing_key_passes_only_the_absence_tests(condition: dict[str, Any]) -> None:
    absence = condition in ({"$exists": False}, {"$isNull": False})
    assert matches({"k": [condition]}, {"other": 1}) is absence


@pytest.mark.parametrize("value", VALUES)
def test_a_value_list_is_the_any_of_its_singletons(value: Any) -> None:
    options = ["a", 1, True, 1.5]
    payload = {"k": value}
    assert matches({"k": options}, payload) is any(matches({"k": [o]}, payload) for o in options)
    assert matches({"k": [{"$anythingBut": options}]}, payload) is not matches(
        {"k": options}, payload
    )


@pytest.mark.parametrize("payload", PAYLOADS)
def test_conditions_in_one_list_are_a_conjunction(payload: Any) -> None:
    for first in CONDITIONS:
        for second in CONDITIONS:
            both = matches({"k": [first, second]}, payload)
            assert both is (matches({"k": [first]}, payload) and matches({"k": [second]}, payload))


# --- merge_filters: the AND of two filters, key by key ----------------------------------------

REPO = {"repository": {"full_name": ["acme/crm"]}}

# (first, second, the merged filter)
MERGES: list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]] = [
    # disjoint keys: both kept
    (REPO, {"action": ["opened"]}, {**REPO, "action": ["opened"]}),
    # the same nested key: merged, never replaced (the GitHub repo trigger bug)
    (
        REPO,
        {"repository": {"private": [True]}},
        {"repository": {"full_name": ["acme/crm"], "private": [True]}},
    ),
    # two lists of values: the values in both
    ({"plan": ["pro", "team"]}, {"plan": ["team", "free"]}, {"plan": ["team"]}),
    # strict equality as when matching: 1 and 1.0 are one value, True is not 1
    ({"n": [1, True]}, {"n": [1.0]}, {"n": [1]}),
    # values and conditions: the values every condition lets through
    (REPO, {"repository": {"full_name": [{"$startsWith": "acme/"}]}}, REPO),
    ({"n": [{"$gte": 2}]}, {"n": [1, 2, 3]}, {"n": [2, 3]}),
    # two lists of conditions: all of them (a repeated one once)
    (
        {"n": [{"$gt": 1}, {"$lt": 9}]},
        {"n": [{"$lt": 9}, {"$not": 5}]},
        {"n": [{"$gt": 1}, {"$lt": 9}, {"$not": 5}]},
    ),
    # an empty pattern matches anything: the other one stands
    ({"plan": []}, {"plan": ["pro"]}, {"plan": ["pro"]}),
    ({"address": {}}, {"address": {"city": ["London"]}}, {"address": {"city": ["London"]}}),
    (REPO, {"repository": []}, REPO),
    # deep recursion
    (
        {"a": {"b": {"c": ["x", "y"]}}},
        {"a": {"b": {"c": ["y"], "d": [{"$exists": True}]}}},
        {"a": {"b": {"c": ["y"], "d": [{"$exists": True}]}}},
    ),
    # None and the empty filter add nothing
    (REPO, None, REPO),
    (REPO, {}, REPO),
    ({}, REPO, REPO),
]


@pytest.mark.parametrize(("first", "second", "merged"), MERGES)
def test_merge_table(
    first: dict[str, Any], second: dict[str, Any] | None, merged: dict[str, Any]
) -> None:
    assert merge_filters(first, second) == merged
    validate_filter(merged, where="test")


MERGE_PAYLOADS: list[Any] = [
    USER,
    {},
    None,
    {"plan": "team", "n": 2},
    {"plan": "free", "n": 1.0},
    {"n": 5, "a": {"b": {"c": "y", "d": 0}}},
    {"n": 3, "a": {"b": {"c": "x"}}},
    {"repository": {"full_name": "acme/crm", "private": True}, "action": "opened"},
    {"repository": {"full_name": "acme/crm", "private": False}, "action": "opened"},
    {"repository": {"full_name": "evil/crm", "private": True}, "action": "opened"},
    {"repository": None},
    {"address": {"city": "Paris"}},
    {"address": {"city": "London"}},
    {"n": True, "plan": "pro"},
    {"n": 9, "plan": "team"},
]


@pytest.mark.parametrize(("first", "second", "merged"), MERGES)
def test_the_merge_matches_exactly_when_both_match(
    first: dict[str, Any], second: dict[str, Any] | None, merged: dict[str, Any]
) -> None:
    for payload in MERGE_PAYLOADS:
        both = matches(first, payload) and (second is None or matches(second, payload))
        assert matches(merge_filters(first, second), payload) is both, payload


def test_the_order_of_the_filters_does_not_change_what_matches() -> None:
    for first, second, _ in MERGES:
        if second is None:
            continue
        forward, backward = merge_filters(first, second), merge_filters(second, first)
        assert [matches(forward, p) for p in MERGE_PAYLOADS] == [
            matches(backward, p) for p in MERGE_PAYLOADS
        ]


def test_more_than_two_filters() -> None:
    merged = merge_filters({"plan": ["pro", "team"]}, None, {"plan": ["team"]}, {"n": [1]})
    assert merged == {"plan": ["team"], "n": [1]}


def test_a_list_of_objects_must_have_one_element_matching_both() -> None:
    # Separately, two different orders could match; merged, one order must match both.
    first, second = {"orders": {"sku": ["A1"]}}, {"orders": {"gift": [True]}}
    assert matches(first, USER) and matches(second, USER)
    merged = merge_filters(first, second)
    assert merged == {"orders": {"sku": ["A1"], "gift": [True]}}
    assert not matches(merged, USER)
    assert matches(merged, {"orders": [{"sku": "A1", "gift": True}]})


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            REPO,
            {"repository": {"full_name": ["evil/crm"]}},
            "where: filter.repository.full_name: the combined filter can never match: it must be "
            "one of ['acme/crm'] and one of ['evil/crm']",
        ),
        (
            REPO,
            {"repository": {"full_name": [{"$startsWith": "evil/"}]}},
            "where: filter.repository.full_name: the combined filter can never match: none of "
            "['acme/crm'] satisfies [{'$startsWith': 'evil/'}]",
        ),
        (
            REPO,
            {"repository": [{"$exists": True}]},
            "where: filter.repository: cannot combine {'full_name': ['acme/crm']} with "
            "[{'$exists': True}]: one tests fields of the value, the other the value itself; "
            "express both the same way",
        ),
        # a bad filter is named like any other: where, then the path of the bad element
        (REPO, {"repository": "acme/crm"}, "where: filter.repository: a value to match must be"),
    ],
)
def test_merge_errors_name_the_path(
    first: dict[str, Any], second: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidJobDefinition) as caught:
        merge_filters(first, second, where="where")
    assert caught.value.message.startswith(message)


def test_merging_leaves_the_inputs_alone() -> None:
    first = {"repository": {"full_name": ["acme/crm"]}, "plan": ["pro"]}
    second = {"repository": {"private": [True]}, "plan": ["pro", "team"]}
    before = (repr(first), repr(second))
    merge_filters(first, second)
    assert (repr(first), repr(second)) == before


# Leaf patterns for one key: lists of values, lists of conditions, and the empty pattern.
LEAVES: list[list[Any]] = [
    [],
    ["a"],
    ["a", "A", 1],
    [1, 1.5, True],
    [0, False, ""],
    *[[c] for c in CONDITIONS],
    [{"$gte": 0}, {"$lt": 1.5}],
    [{"$exists": True}, {"$not": "a"}],
]


@pytest.mark.parametrize("second", LEAVES)
@pytest.mark.parametrize("first", LEAVES)
def test_merging_two_leaves_is_their_and_on_every_payload(
    first: list[Any], second: list[Any]
) -> None:
    # Over the spread of payload values: the merged pattern matches exactly the payloads both
    # match, and a merge refused as never matching is one that no payload satisfies.
    one, other = {"k": first}, {"k": second}
    both = [matches(one, p) and matches(other, p) for p in PAYLOADS]
    try:
        merged = merge_filters(one, other)
    except InvalidJobDefinition as exc:
        assert "can never match" in exc.message
        assert not any(both)
        return
    assert [matches(merged, p) for p in PAYLOADS] == both
