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


#: How many tags a run or token may have, and how long one may be.
MAX_TAGS = 10
MAX_TAG_LENGTH = 100


def check_tags(tags: object, where: str) -> list[str]:
    """``tags`` as a list: up to ``MAX_TAGS`` non-blank strings of up to ``MAX_TAG_LENGTH``
    characters without NUL; ``ConfigurationError`` naming the bad one otherwise."""
    if isinstance(tags, (str, bytes)) or not isinstance(tags, (list, tuple)):
        raise ConfigurationError(f"{where}: tags must be a list of strings, got {tags!r}")
    found = list(tags)
    if len(found) > MAX_TAGS:
        raise ConfigurationError(f"{where}: at most {MAX_TAGS} tags, got {len(found)}")
    for tag in found:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_LENGTH:
            raise ConfigurationError(
                f"{where}: each tag must be a non-blank string of up to {MAX_TAG_LENGTH} "
                f"characters, got {tag!r}"
            )
        check_text(tag, "the tag", where)
    return list(dict.fromkeys(found))
