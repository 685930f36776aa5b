"""Messages and reactions: ``chat.postMessage``, ``chat.update``, ``chat.delete``,
``reactions.add``."""

from __future__ import annotations

from typing import Any

import httpx2

from ._client import JSONObject, _post


async def post_message(
    client: httpx2.AsyncClient,
    *,
    channel: str,
    text: str | None = None,
    blocks: list[Any] | None = None,
    attachments: list[Any] | None = None,
    thread_ts: str | None = None,
    reply_broadcast: bool | None = None,
    mrkdwn: bool | None = None,
    unfurl_links: bool | None = None,
    unfurl_media: bool | None = None,
    username: str | None = None,
    icon_emoji: str | None = None,
    icon_url: str | None = None,
) -> JSONObject:
    """Post a message (``chat.postMessage``); returns ``{"ok", "channel", "ts", "message"}``.

    Pass ``text`` and/or ``blocks`` (``text`` is then the notification fallback);
    ``thread_ts`` replies in a thread. Keep the returned ``ts``: it names the message for
    ``update_message``, ``delete_message`` and ``add_reaction``.

    Caveat: Slack has no idempotency key for messages, so a retry after a ``fatal_error``
    (or a lost response) may post twice.
    """
    return await _post(
        client,
        "chat.postMessage",
        channel=channel,
        text=text,
        blocks=blocks,
        attachments=attachments,
        thread_ts=thread_ts,
        reply_broadcast=reply_broadcast,
        mrkdwn=mrkdwn,
        unfurl_links=unfurl_links,
        unfurl_media=unfurl_media,
        username=username,
        icon_emoji=icon_emoji,
        icon_url=icon_url,
    )


async def update_message(
    client: httpx2.AsyncClient,
    *,
    channel: str,
    ts: str,
    text: str | None = None,
    blocks: list[Any] | None = None,
    attachments: list[Any] | None = None,
) -> JSONObject:
    """Edit a message the token's owner posted (``chat.update``)."""
    return await _post(
        client,
        "chat.update",
        channel=channel,
        ts=ts,
        text=text,
        blocks=blocks,
        attachments=attachments,
    )


async def delete_message(client: httpx2.AsyncClient, *, channel: str, ts: str) -> JSONObject:
    """Delete a message (``chat.delete``); returns ``{"ok", "channel", "ts"}``."""
    return await _post(client, "chat.delete", channel=channel, ts=ts)


async def add_reaction(
    client: httpx2.AsyncClient, *, channel: str, timestamp: str, name: str
) -> JSONObject:
    """Add the emoji ``name`` (without colons: ``"thumbsup"``) to the message at ``timestamp``
    (``reactions.add``). Slack answers ``already_reacted`` (not retried) on a second call."""
    return await _post(client, "reactions.add", channel=channel, timestamp=timestamp, name=name)
