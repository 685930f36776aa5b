"""Conversations (channels, DMs, group DMs): ``conversations.join``, ``.list``, ``.history``,
``.replies`` and ``.info``.

The list-shaped methods return one page (the response, with
``response_metadata.next_cursor``), so each page can be its own memoized task; ``paginate``
walks them all. The ``iter_*`` functions are that walk for the common cases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2

from ._client import JSONObject, _get, _post
from ._http import paginate


async def join_conversation(client: httpx2.AsyncClient, *, channel: str) -> JSONObject:
    """Join a public channel (``conversations.join``); Slack warns ``already_in_channel``
    (in ``warning``) instead of failing when the token's user is a member already."""
    return await _post(client, "conversations.join", channel=channel)


async def list_conversations(
    client: httpx2.AsyncClient,
    *,
    types: str | None = None,
    exclude_archived: bool | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> JSONObject:
    """One page of conversations (``conversations.list``).

    ``types`` is a comma-separated subset of ``public_channel,private_channel,mpim,im``.
    """
    return await _get(
        client,
        "conversations.list",
        types=types,
        exclude_archived=exclude_archived,
        limit=limit,
        cursor=cursor,
    )


async def get_conversation_history(
    client: httpx2.AsyncClient,
    *,
    channel: str,
    oldest: str | None = None,
    latest: str | None = None,
    inclusive: bool | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> JSONObject:
    """One page of a conversation's messages, newest first (``conversations.history``)."""
    return await _get(
        client,
        "conversations.history",
        channel=channel,
        oldest=oldest,
        latest=latest,
        inclusive=inclusive,
        limit=limit,
        cursor=cursor,
    )


async def get_conversation_replies(
    client: httpx2.AsyncClient,
    *,
    channel: str,
    ts: str,
    oldest: str | None = None,
    latest: str | None = None,
    inclusive: bool | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> JSONObject:
    """One page of a thread (``conversations.replies``): the parent message, then replies."""
    return await _get(
        client,
        "conversations.replies",
        channel=channel,
        ts=ts,
        oldest=oldest,
        latest=latest,
        inclusive=inclusive,
        limit=limit,
        cursor=cursor,
    )


async def get_conversation_info(
    client: httpx2.AsyncClient,
    *,
    channel: str,
    include_locale: bool | None = None,
    include_num_members: bool | None = None,
) -> JSONObject:
    """A conversation's details (``conversations.info``); the object is under ``channel``."""
    return await _get(
        client,
        "conversations.info",
        channel=channel,
        include_locale=include_locale,
        include_num_members=include_num_members,
    )


def iter_conversations(
    client: httpx2.AsyncClient,
    *,
    types: str | None = None,
    exclude_archived: bool | None = None,
    limit: int = 200,
    max_pages: int | None = None,
) -> AsyncIterator[Any]:
    """Every conversation ``conversations.list`` returns, following the cursor."""
    return paginate(
        client,
        "conversations.list",
        items_key="channels",
        params={"types": types, "exclude_archived": exclude_archived},
        limit=limit,
        max_pages=max_pages,
    )


def iter_conversation_history(
    client: httpx2.AsyncClient,
    *,
    channel: str,
    oldest: str | None = None,
    latest: str | None = None,
    limit: int = 200,
    max_pages: int | None = None,
) -> AsyncIterator[Any]:
    """Every message of a conversation (newest first), following the cursor."""
    return paginate(
        client,
        "conversations.history",
        items_key="messages",
        params={"channel": channel, "oldest": oldest, "latest": latest},
        limit=limit,
        max_pages=max_pages,
    )
