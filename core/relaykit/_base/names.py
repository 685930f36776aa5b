"""The check every name and key relaykit stores as database text goes through.

PostgreSQL ``text`` cannot hold a NUL character (``\\x00``): the driver refuses the statement.
SQLite would store it, so without a check a job would work on one backend and fail on the
other, and a server would answer 500. So every name and key is checked where it enters relaykit
(event names, ids and sources, task keys and names, key-value names, idempotency keys,
schedule keys, API key and user names, ids in URLs), never patched in the store, and refused
with one line naming it. JSON values are not names: a NUL inside a JSON string is written as
the escape ``\\u0000`` and round-trips on both backends.
"""

from __future__ import annotations

from ..errors import ConfigurationError


def check_text(value: str, what: str, where: str, *, fix: str = "remove it") -> str:
    """``value``, or ``ConfigurationError`` when it holds a NUL character.

    ``what`` names the value ("the task key"), ``where`` the call it came through, ``fix``
    what to do instead.
    """
    if "\x00" in value:
        raise ConfigurationError(
            f"{where}: {what} {value!r} contains a NUL character (\\x00), which relaykit "
            f"cannot store; {fix}"
        )
    return value
