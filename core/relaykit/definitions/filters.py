"""EventFilter: match event payloads against a declarative filter (Trigger.dev v2 semantics).

A filter is a mapping from payload keys to *patterns*::

    {"plan": ["pro", "team"],                       # one of these values
     "email": [{"$endsWith": "@acme.com"}],          # every condition in the list holds
     "address": {"country": ["FR", "DE"]},           # recurse into the payload value
     "orders": {"total": [{"$gte": 100}]}}          # a list payload: any element matches

Semantics, key by key (every key must match; an empty filter matches everything):

- **A list of plain values** (strings, numbers, booleans) matches when the payload value equals
  one of them. Equality is strict: ``True`` is not ``1``, ``"1"`` is not ``1``; ``1 == 1.0``.
  The payload value is compared whole: use ``$includes`` to test a list's elements.
- **A list of operator objects** (one ``$operator`` each) matches when every one holds.
- **An empty list** (or an empty mapping) matches anything: a missing key, ``None``, any payload.
- **A mapping** recurses into the payload value, which must be an object; when the payload value
  is a list, the mapping matches if any element matches it as a whole (a list of lists is
  searched to any depth). A payload that is a list is matched the same way.
- **A bare scalar** is not a pattern: ``{"plan": "pro"}`` is an error; write ``{"plan": ["pro"]}``.
- **A key starting with ``$``** is an operator, so it is an error as a payload key
  (``{"age": {"$gt": 1}}`` must be ``{"age": [{"$gt": 1}]}``): a misspelt operator must not
  silently become a field that is never there. Payload keys that start with ``$`` cannot be
  filtered on.

``merge_filters(a, b)`` is one filter matching exactly when both do (key by key; see its
docstring): what a trigger uses to add a user's filter to its own constraint.

Operators (a wrong operand type is an error; a payload value of the wrong type is a non-match):

=======================  ==================================================================
``$startsWith: str``     the value is a string starting with it (``$endsWith`` likewise)
``$ignoreCaseEquals``    the value is a string equal to it ignoring case (``str.casefold``)
``$exists: bool``        the key is present (``None`` counts as present) / absent
``$isNull: bool``        the value is / is not ``None``
``$anythingBut: v|[v]``  the value equals none of the given scalars
``$not: v``              the value is a scalar other than ``v``, or a list not containing it
``$not: {op}``           the operator does not hold for the value
``$gt $gte $lt $lte``    the value is a number (never a bool or a string) and compares so
``$between: [lo, hi]``   the value is a number with ``lo <= value <= hi``
``$includes: v``         the value is a list containing ``v``
=======================  ==================================================================

A key missing from the payload fails every operator except ``$exists: false`` and
``$isNull: false`` (and a ``$not`` wrapped around either of those two).

Differences from Trigger.dev's ``eventFilterMatches`` (packages/core/src/eventFilterMatches.ts):

- ``$anythingBut`` fails on a missing key, like every other value test (Trigger.dev lets it
  match, while its ``$not`` fails); test absence explicitly with ``$exists``.
- ``$not`` may also wrap one operator object (``{"$not": {"$startsWith": "tmp/"}}``).
- A list of plain values may mix strings, numbers and booleans (Trigger.dev's schema wants one
  type per list and its matcher silently accepts everything for a mixed list).
- A nested mapping matched against a scalar fails (Trigger.dev reads the scalar's properties,
  so ``$exists: false`` would pass there); against ``None`` or a missing key it fails in both.
- Empty patterns match even a ``None`` payload or an empty list (Trigger.dev returns false for
  a null payload and, for a nested mapping, an empty list, before looking at the patterns).
- A ``$``-prefixed key in a mapping is rejected (Trigger.dev reads it as a payload field).
- ``validate_filter`` is stricter than Trigger.dev's zod schema, which also rejects unknown
  operators but lets a reversed ``$between``, NaN, or a second operator in one object through
  (zod silently drops the extra key).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple, NoReturn, TypeGuard, final

from ..errors import InvalidJobDefinition


@final
class _Missing:
    """The value of a key absent from the payload (distinct from ``None``, JSON's null)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()


def _is_number(value: object) -> TypeGuard[int | float]:
    # bool subclasses int, and NaN equals nothing; neither is a number for a filter.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _is_scalar(value: object) -> TypeGuard[str | int | float | bool]:
    return isinstance(value, str | bool) or _is_number(value)


def _is_range(value: object) -> bool:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return False
    low, high = value
    return _is_number(low) and _is_number(high) and low <= high


def _is_scalars(value: object) -> bool:
    return _is_scalar(value) or (
        isinstance(value, list | tuple) and all(_is_scalar(v) for v in value)
    )


def _equal(expected: object, actual: object) -> bool:
    """Strict equality: a bool equals only a bool (Python's ``True == 1`` does not apply)."""
    return isinstance(expected, bool) == isinstance(actual, bool) and expected == actual


# --- matching --------------------------------------------------------------------------------


def matches(filter: Mapping[str, Any], payload: Any) -> bool:
    """Whether ``payload`` (decoded JSON) matches ``filter``.

    ``filter`` must have passed :func:`validate_filter`; a malformed one may raise here.
    """
    return _match_mapping(filter, payload)


def _match_mapping(filter: Mapping[str, Any], value: Any) -> bool:
    tests = [(key, pattern) for key, pattern in filter.items() if not _is_vacuous(pattern)]
    if not tests:
        return True
    if isinstance(value, list | tuple):
        return any(_match_mapping(filter, item) for item in value)
    if not isinstance(value, Mapping):
        return False
    return all(_match_pattern(pattern, value.get(key, _MISSING)) for key, pattern in tests)


def _is_vacuous(pattern: Any) -> bool:
    """An empty list, or a mapping of nothing but vacuous patterns: it matches anything."""
    if isinstance(pattern, Mapping):
        return all(_is_vacuous(inner) for inner in pattern.values())
    return not pattern


def _match_pattern(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, Mapping):
        return _match_mapping(pattern, value)
    if isinstance(pattern[0], Mapping):  # validated: all conditions, or all values
        return all(_match_condition(condition, value) for condition in pattern)
    return any(_equal(option, value) for option in pattern)


def _match_condition(condition: Mapping[str, Any], value: Any) -> bool:
    ((name, operand),) = condition.items()
    if value is _MISSING and not _defined_on_missing(name, operand):
        return False
    return _OPERATORS[name].match(operand, value)


def _defined_on_missing(name: str, operand: Any) -> bool:
    """Whether the operator says something about an absent key (most only test values)."""
    if name == "$not" and isinstance(operand, Mapping):
        return _defined_on_missing(*next(iter(operand.items())))
    return name in ("$exists", "$isNull")


def _match_not(operand: Any, value: Any) -> bool:
    if isinstance(operand, Mapping):
        return not _match_condition(operand, value)
    if isinstance(value, list | tuple):
        return not any(_equal(operand, item) for item in value)
    # As in Trigger.dev: None and objects are not "a value other than the operand".
    return _is_scalar(value) and not _equal(operand, value)


def _match_anything_but(operand: Any, value: Any) -> bool:
    options = operand if isinstance(operand, list | tuple) else (operand,)
    return not any(_equal(option, value) for option in options)


def _match_includes(operand: Any, value: Any) -> bool:
    return isinstance(value, list | tuple) and any(_equal(operand, item) for item in value)


def _compare(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda operand, value: _is_number(value) and test(value, operand)


class _Operator(NamedTuple):
    match: Callable[[Any, Any], bool]  # (operand, payload value) -> matched
    accepts: Callable[[Any], bool]  # whether an operand is well-formed
    needs: str  # what a well-formed operand is, for error messages


_STRING = "a string"
_BOOL = "True or False"
_NUMBER = "a number (not a bool)"
_SCALAR = "a string, number or bool"

_OPERATORS: Final[Mapping[str, _Operator]] = {
    "$startsWith": _Operator(
        lambda o, v: isinstance(v, str) and v.startswith(o), lambda o: isinstance(o, str), _STRING
    ),
    "$endsWith": _Operator(
        lambda o, v: isinstance(v, str) and v.endswith(o), lambda o: isinstance(o, str), _STRING
    ),
    "$ignoreCaseEquals": _Operator(
        lambda o, v: isinstance(v, str) and v.casefold() == o.casefold(),
        lambda o: isinstance(o, str),
        _STRING,
    ),
    "$exists": _Operator(
        lambda o, v: (v is not _MISSING) == o, lambda o: isinstance(o, bool), _BOOL
    ),
    "$isNull": _Operator(lambda o, v: (v is None) == o, lambda o: isinstance(o, bool), _BOOL),
    "$anythingBut": _Operator(_match_anything_but, _is_scalars, _SCALAR + ", or a list of them"),
    "$not": _Operator(
        _match_not,
        lambda o: _is_scalar(o) or isinstance(o, Mapping),
        _SCALAR + ", or one operator object such as {'$startsWith': 'tmp/'}",
    ),
    "$gt": _Operator(_compare(lambda v, o: v > o), _is_number, _NUMBER),
    "$gte": _Operator(_compare(lambda v, o: v >= o), _is_number, _NUMBER),
    "$lt": _Operator(_compare(lambda v, o: v < o), _is_number, _NUMBER),
    "$lte": _Operator(_compare(lambda v, o: v <= o), _is_number, _NUMBER),
    "$between": _Operator(
        _compare(lambda v, o: o[0] <= v <= o[1]),
        _is_range,
        "a [low, high] list of two numbers with low <= high",
    ),
    "$includes": _Operator(_match_includes, _is_scalar, _SCALAR),
}

_KNOWN = ", ".join(_OPERATORS)


# --- merging ---------------------------------------------------------------------------------


def merge_filters(*filters: Mapping[str, Any] | None, where: str = "filter") -> dict[str, Any]:
    """One filter that matches exactly when every one of ``filters`` matches (their AND).

    For triggers that add a user's ``filter`` to their own constraint (an integration's
    webhook trigger pinning a repository): the user's filter may narrow the constraint, never
    replace it. Key by key: a key in one filter is kept; a key in both merges recursively
    (mappings), or both leaf patterns must hold:

    - two lists of values ("one of") become the values in both;
    - a list of values and a list of conditions become the values satisfying every condition;
    - two lists of conditions ("all must hold") become one list holding all of them;
    - an empty pattern (matches anything) gives way to the other.

    Where the payload value is a list of objects, the merged mapping asks one element to match
    both filters (separately, two different elements could). ``None`` arguments are skipped.

    Raises:
        InvalidJobDefinition: an argument is not a valid filter; the merged filter could never
            match (``["a"]`` and ``["b"]`` for one key); or one filter has a mapping and the
            other a list at the same key (a nested filter and a test of the whole value cannot
            be combined into one pattern). The message starts with ``where``.
    """
    merged: dict[str, Any] = {}
    for flt in filters:
        if flt is None:
            continue
        validate_filter(flt, where=where)
        merged = _merge_mappings(merged, flt, "filter", where)
    return merged


def _merge_mappings(
    first: Mapping[str, Any], second: Mapping[str, Any], path: str, where: str
) -> dict[str, Any]:
    merged = dict(first)
    for key, pattern in second.items():
        merged[key] = (
            _merge_patterns(merged[key], pattern, _join(path, key), where)
            if key in merged
            else pattern
        )
    return merged


def _merge_patterns(first: Any, second: Any, path: str, where: str) -> Any:
    if _is_vacuous(first):
        return second
    if _is_vacuous(second):
        return first
    if isinstance(first, Mapping) and isinstance(second, Mapping):
        return _merge_mappings(first, second, path, where)
    if isinstance(first, Mapping) or isinstance(second, Mapping):
        _fail(
            where,
            path,
            f"cannot combine {first!r} with {second!r}: one tests fields of the value, the "
            "other the value itself; express both the same way",
        )
    first_ops, second_ops = isinstance(first[0], Mapping), isinstance(second[0], Mapping)
    if first_ops and second_ops:
        return list(first) + [c for c in second if c not in first]
    if first_ops or second_ops:
        values, conditions = (second, first) if first_ops else (first, second)
        kept = [v for v in values if all(_match_condition(c, v) for c in conditions)]
        if not kept:
            _never(where, path, f"none of {list(values)!r} satisfies {list(conditions)!r}")
        return kept
    kept = [v for v in first if any(_equal(v, w) for w in second)]
    if not kept:
        _never(where, path, f"it must be one of {list(first)!r} and one of {list(second)!r}")
    return kept


def _never(where: str, path: str, why: str) -> NoReturn:
    _fail(where, path, f"the combined filter can never match: {why}")


# --- validation ------------------------------------------------------------------------------


def validate_filter(filter: Mapping[str, Any], *, where: str) -> None:
    """Check that ``filter`` is a well-formed EventFilter.

    ``where`` names the definition being checked (e.g. ``event_trigger(user.created)``) and
    starts every message.

    Raises:
        InvalidJobDefinition: one line naming the path of the bad element (``filter.user.plan[1]``)
            and what to write instead.
    """
    if not isinstance(filter, Mapping):
        _fail(where, "filter", f"must be a mapping of payload keys, got {type(filter).__name__}")
    _check_mapping(filter, "filter", where)


def _fail(where: str, path: str, problem: str) -> NoReturn:
    raise InvalidJobDefinition(f"{where}: {path}: {problem}")


def _join(path: str, key: str) -> str:
    plain = key and not any(c in key for c in ".[]'\"") and key.isprintable() and " " not in key
    return f"{path}.{key}" if plain else f"{path}[{key!r}]"


def _check_mapping(
    filter: Mapping[Any, Any], path: str, where: str, parent: str = "amount"
) -> None:
    for key, pattern in filter.items():
        if not isinstance(key, str):
            _fail(where, path, f"keys must be strings, got {key!r} ({type(key).__name__})")
        if key in _OPERATORS:
            _fail(
                where,
                path,
                f"{key} is an operator, not a payload key; put it in a list under the key "
                f"it tests, e.g. {{{parent!r}: [{{{key!r}: ...}}]}}",
            )
        here = _join(path, key)
        if key.startswith("$"):
            _fail(where, here, f"unknown operator {key!r}; known operators: {_KNOWN}")
        if isinstance(pattern, Mapping):
            _check_mapping(pattern, here, where, key)
        elif isinstance(pattern, list | tuple):
            _check_list(pattern, here, where)
        else:
            _fail(where, here, _bad_leaf(key, pattern))


def _bad_leaf(key: str, pattern: Any) -> str:
    if _is_scalar(pattern):
        return (
            f"a value to match must be in a list, e.g. {{{key!r}: [{pattern!r}]}} "
            "(a list of values means 'one of'); got a bare value"
        )
    if pattern is None:
        return f"None is not a pattern; use {{{key!r}: [{{'$isNull': True}}]}} to match null"
    return f"expected a list of values or conditions, or a mapping, got {type(pattern).__name__}"


def _check_list(items: list[Any] | tuple[Any, ...], path: str, where: str) -> None:
    seen_values = seen_operators = False
    for index, item in enumerate(items):
        here = f"{path}[{index}]"
        if isinstance(item, Mapping):
            _check_condition(item, here, where)
            seen_operators = True
        elif _is_scalar(item):
            seen_values = True
        else:
            _fail(where, here, _bad_item(item))
        if seen_values and seen_operators:
            _fail(
                where,
                here,
                "a list holds either plain values (one of) or operator objects (all must hold), "
                "not both; keep one kind per list, e.g. ['pro', 'team'] or [{'$startsWith': 'p'}]",
            )


def _bad_item(item: Any) -> str:
    if item is None:
        return "None is not a value to match; use [{'$isNull': True}] to match null"
    if isinstance(item, list | tuple):
        return f"lists cannot be nested, got {item!r}; use [{{'$includes': v}}] for list members"
    if isinstance(item, float):
        return "NaN equals nothing; use a number"
    return f"expected a string, number, bool or operator object, got {type(item).__name__}"


def _check_condition(condition: Mapping[Any, Any], path: str, where: str) -> None:
    if len(condition) != 1:
        split = [{k: v} for k, v in condition.items()]
        fix = f"split it into {split!r}" if condition else "remove it or add one operator"
        _fail(
            where,
            path,
            f"an operator object holds exactly one operator, got {len(condition)}; {fix}",
        )
    ((name, operand),) = condition.items()
    if name not in _OPERATORS:
        _fail(where, path, _unknown_operator(name))
    operator = _OPERATORS[name]
    if not operator.accepts(operand):
        _fail(where, path, f"{name} needs {operator.needs}, got {operand!r}")
    if name == "$not" and isinstance(operand, Mapping):
        _check_condition(operand, f"{path}.$not", where)


def _unknown_operator(name: Any) -> str:
    if isinstance(name, str) and name.startswith("$"):
        return f"unknown operator {name!r}; known operators: {_KNOWN}"
    return (
        f"expected an operator object such as {{'$gt': 1}}, got key {name!r}; to match fields "
        "of the payload list's elements, use a mapping instead of a list: {'items': {'sku': [...]}}"
    )
