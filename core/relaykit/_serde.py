"""JSON serialization of task params, task outputs and run outputs.

A task's value is always handed back *restored*: serialized to JSON, then parsed again (and
validated into the function's declared return type when it has one). A first execution and a
replay therefore see equal values of equal types.
"""

from __future__ import annotations

import json
import logging
import typing
from collections.abc import Callable
from types import CodeType
from typing import Any

import pydantic
import pydantic_core

from .errors import SerializationError

_log = logging.getLogger("relaykit")

_log = logging.getLogger("relaykit")

_NO_HINT: Any = object()
_NONE_HINTS = (_NO_HINT, Any, None, type(None))
_hints_by_code: dict[CodeType, Any] = {}
_adapters: dict[Any, pydantic.TypeAdapter[Any]] = {}


def dumps(value: Any, *, what: str) -> str:
    """Serialize ``value`` to JSON text; ``what`` names it in the error ("task 'fetch' output")."""
    try:
        data = pydantic_core.to_json(value)
    except (pydantic_core.PydanticSerializationError, TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what} is not JSON-serializable ({type(value).__name__}): "
            "return JSON values (dict, list, str, int, float, bool, None), "
            "pydantic models or dataclasses"
        ) from exc
    text = data.decode()
    if (b"NaN" in data or b"Infinity" in data) and _has_non_finite(text):
        raise SerializationError(
            f"{what} contains NaN or Infinity, which JSON cannot represent; "
            "use None or a string instead"
        )
    return text


def _has_non_finite(text: str) -> bool:
    # Rare path: the bytes mention NaN/Infinity, maybe only inside a string. Parse to be sure.
    found = False

    def constant(_: str) -> None:
        nonlocal found
        found = True

    json.loads(text, parse_constant=constant)
    return found


def return_hint(fn: Callable[..., Any]) -> Any:
    """The declared return type of ``fn`` (resolved with get_type_hints), or a no-hint marker.

    Cached per code object, so lambdas re-created on every replay cost one lookup.
    """
    code = getattr(fn, "__code__", None)
    if code is not None and code in _hints_by_code:
        return _hints_by_code[code]
    try:
        hint = typing.get_type_hints(fn).get("return", _NO_HINT)
    except Exception as exc:  # unresolvable annotations mean "no hint", not a crash
        _log.warning(
            "cannot resolve the return annotation of %s (%s); its task outputs come back as "
            "plain JSON values",
            getattr(fn, "__qualname__", fn),
            exc,
        )
        hint = _NO_HINT
    if hint is Any:
        hint = _NO_HINT
    if code is not None:
        _hints_by_code[code] = hint
    return hint


def _adapter(hint: Any) -> pydantic.TypeAdapter[Any]:
    try:
        return _adapters[hint]
    except KeyError:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(hint)
        _adapters[hint] = adapter
        return adapter
    except TypeError:  # unhashable hint: build one each time
        return pydantic.TypeAdapter(hint)


def restore(text: str | None, hint: Any = _NO_HINT, *, what: str = "value") -> Any:
    """Parse JSON ``text``; validate it into ``hint`` when one is given."""
    if text is None or (text == "null" and hint in _NONE_HINTS):
        return None
    if hint is _NO_HINT or hint is Any:
        return json.loads(text)
    try:
        return _adapter(hint).validate_json(text)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        raise SerializationError(
            f"{what} does not match its declared return type {hint!r}: {first}; "
            "fix the annotation or the returned value"
        ) from exc


def loads(text: str | None) -> Any:
    """Parse JSON text (None stays None)."""
    return None if text is None else json.loads(text)
