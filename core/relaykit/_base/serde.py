"""JSON serialization of task params, task outputs and run outputs, and the one JSON parser
every surface uses for what it receives.

A task's value is always handed back *restored*: serialized to JSON, then parsed again (and
validated into the function's declared return type when it has one). A first execution and a
replay therefore see equal values of equal types.

**Nesting limit.** No JSON value relaykit reads (``parse_json``: the HTTP API, the dashboard's
forms, webhook deliveries, ``--payload``) or writes (``dumps``: payloads, task params and
outputs, run outputs, key-value entries) may nest arrays and objects more than
``MAX_JSON_DEPTH`` (200) levels deep; either raises ``JsonTooDeep`` before anything is stored.
Why 200: Python's ``json`` parser recurses once per level and raises ``RecursionError`` near
1,000 (fewer inside a deep call stack), and pydantic-core, which serializes every value,
refuses more than 254; 200 stays clear of both (also once relaykit wraps a value in an
envelope of its own) and is far beyond what real payloads use (a GitHub delivery nests about 6).
The limit applies to the whole text: a payload inside a request body's object, or a task
argument inside its params list, has one level fewer. It is checked on the text, before
parsing, by a scan that costs two ``count`` calls for a value holding at most 200 brackets,
and a few linear passes at C speed otherwise (about a fifth of ``json.loads``'s time on
bracket-dense data).
"""

from __future__ import annotations

import itertools
import json
import logging
import operator
import typing
from collections.abc import Callable
from types import CodeType
from typing import Any, Final

import pydantic
import pydantic_core

from ..errors import JsonTooDeep, SerializationError

_log = logging.getLogger("relaykit")

#: How many levels arrays and objects may nest in any JSON value relaykit reads or writes
#: (``[]`` is 1 level, ``[[]]`` 2, a scalar 0).
MAX_JSON_DEPTH: Final = 200

# Every byte but the structural ones: a quote and the four brackets.
_NOT_STRUCTURE: Final = bytes(set(range(256)) - set(b'"[]{}'))
# Each bracket becomes 2 (opening) or 0 (closing): after k brackets the running sum minus k is
# the nesting depth there.
_STEPS: Final = bytes.maketrans(b"[]", b"\x02\x00")
# Depth does not depend on the kind of bracket: one kind makes each peeling round one
# ``replace`` (two in a row would chain, ``{[]}`` losing both levels in one round).
_ONE_KIND: Final = bytes.maketrans(b"{}", b"[]")
# Rounds of dropping innermost pairs before counting exactly (shallow data needs few).
_PEEL_ROUNDS: Final = 16

_NO_HINT: Any = object()
_NONE_HINTS = (_NO_HINT, Any, None, type(None))
_hints_by_code: dict[CodeType, Any] = {}
_adapters: dict[Any, pydantic.TypeAdapter[Any]] = {}


def _too_deep(what: str) -> JsonTooDeep:
    return JsonTooDeep(
        f"{what} nests arrays and objects more than {MAX_JSON_DEPTH} levels deep, relaykit's "
        "limit for JSON; flatten it, or store the data elsewhere and pass a reference"
    )


def too_deep(text: str | bytes) -> bool:
    """Whether arrays and objects nest more than ``MAX_JSON_DEPTH`` levels in JSON ``text``
    (brackets inside strings do not count; an unclosed one does, as a parser would recurse
    into it). Every step but the last runs at C speed: bytes methods and one regex over the
    structural bytes only."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return False
    # Escapes first (an escaped backslash, then an escaped quote, left to right as a parser
    # reads them), so what is left of each string is a quote, its brackets and a quote. Two
    # adjacent quotes are an empty string, or two strings with nothing structural between
    # them: dropping them first leaves only the (rare) strings holding brackets to split off.
    data = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    data = data.replace(b'""', b"")
    if b'"' in data:
        data = b"".join(data.split(b'"')[::2])
    data = data.translate(_ONE_KIND)
    peeled = 0
    while peeled < _PEEL_ROUNDS and data:  # each round lowers the deepest point by one level
        shorter = data.replace(b"[]", b"")
        if len(shorter) == len(data):
            break
        data, peeled = shorter, peeled + 1
    depths = map(operator.sub, itertools.accumulate(data.translate(_STEPS)), itertools.count(1))
    return peeled + max(depths, default=0) > MAX_JSON_DEPTH


def check_depth(text: str | bytes, *, what: str) -> None:
    """Raise ``JsonTooDeep`` when JSON ``text`` nests deeper than ``MAX_JSON_DEPTH``."""
    if too_deep(text):
        raise _too_deep(what)


def parse_json(text: str | bytes | bytearray, *, what: str = "the JSON") -> Any:
    """Parse JSON text received from outside (a request body, a form field, a webhook
    delivery, ``--payload``): the one parser every relaykit surface uses.

    Raises ``JsonTooDeep`` (a ``ValueError``) for more than ``MAX_JSON_DEPTH`` levels of
    nesting, checked before parsing, so a deep body is never a ``RecursionError``;
    ``json.JSONDecodeError`` (a ``ValueError``) for malformed text, and ``ValueError`` for
    ``NaN``/``Infinity``, which JSON (RFC 8259) does not have. Bytes are decoded as
    ``json.loads`` does (UTF-8, -16 or -32); undecodable bytes raise ``UnicodeDecodeError``
    (a ``ValueError`` too).
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode(json.detect_encoding(text), "surrogatepass")
    check_depth(text, what=what)
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def dumps(value: Any, *, what: str) -> str:
    """Serialize ``value`` to JSON text; ``what`` names it in the error ("task 'fetch' output").

    Raises ``SerializationError``, or ``JsonTooDeep`` when it nests deeper than
    ``MAX_JSON_DEPTH``."""
    try:
        data = pydantic_core.to_json(value)
    except (pydantic_core.PydanticSerializationError, TypeError, ValueError) as exc:
        # pydantic-core's own recursion guard (254 levels) says so in its message only
        if "depth exceeded" in str(exc):
            raise _too_deep(what) from None
        raise SerializationError(
            f"{what} is not JSON-serializable ({type(value).__name__}): "
            "return JSON values (dict, list, str, int, float, bool, None), "
            "pydantic models or dataclasses"
        ) from exc
    check_depth(data, what=what)
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
