"""Users: ``users.info`` and ``users.lookupByEmail``."""

from __future__ import annotations

import httpx2

from ._client import JSONObject, _get


async def get_user_info(
    client: httpx2.AsyncClient, *, user: str, include_locale: bool | None = None
) -> JSONObject:
    """A user's profile (``users.info``); the object is under ``user``."""
    return await _get(client, "users.info", user=user, include_locale=include_locale)


async def lookup_user_by_email(client: httpx2.AsyncClient, *, email: str) -> JSONObject:
    """The user with this email (``users.lookupByEmail``; needs ``users:read.email``).

    Slack answers ``users_not_found`` (an ``SlackAPIError``) when nobody has it.
    """
    return await _get(client, "users.lookupByEmail", email=email)
