"""The authenticated Slack client and the request plumbing every API module shares.

The API functions (``_chat``, ``_conversations``, ``_users``, ``_files``) take the
``httpx2.AsyncClient`` made by ``create_client`` and keyword arguments named as in Slack's Web
API reference, and return the method's JSON response (``{"ok": true, ...}``). A failure raises
the error ``classify`` picks (``SlackRateLimited``, ``SlackAPIError`` or ``SlackServerError``).
Optional arguments left as ``None`` are not sent, so Slack applies its own defaults.

How arguments travel, per Slack's description of each method: read methods (``conversations.*``
reads, ``users.*``, ``files.info``) are ``GET`` with a query string; write methods are ``POST``
with a JSON body (they accept form or JSON; JSON keeps ``blocks``/``attachments`` as real
arrays instead of JSON-in-a-form-field). The token always travels in the ``Authorization``
header: Slack no longer accepts it in query strings from apps created since 2021.
"""

from __future__ import annotations

from typing import Any

import httpx2

from ._http import _query_value, raise_for_slack

JSONObject = dict[str, Any]

API_URL = "https://slack.com/api"


def create_client(
    token: str, *, base_url: str = API_URL, transport: httpx2.AsyncBaseTransport | None = None
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` authenticated with a bot (``xoxb-``) or user (``xoxp-``) token.

    ``transport`` is the testing seam (``httpx2.MockTransport``).
    """
    if not token:
        raise ValueError("Slack token is empty; pass a bot token or connect an OAuth connection")
    return httpx2.AsyncClient(
        # A trailing slash so a relative "chat.postMessage" joins under /api/.
        base_url=base_url.rstrip("/") + "/",
        transport=transport,
        headers={"Authorization": f"Bearer {token}", "User-Agent": "relaykit-slack"},
        timeout=30.0,
    )


def _fields(**values: Any) -> JSONObject:
    return {name: value for name, value in values.items() if value is not None}


async def _get(client: httpx2.AsyncClient, method: str, **params: Any) -> JSONObject:
    """Call a read method with its arguments in the query string."""
    query = {name: _query_value(value) for name, value in _fields(**params).items()}
    return raise_for_slack(await client.get(method, params=query or None))


async def _post(client: httpx2.AsyncClient, method: str, **fields: Any) -> JSONObject:
    """Call a write method with its arguments as a JSON body."""
    return raise_for_slack(await client.post(method, json=_fields(**fields)))
