"""File uploads through Slack's external-upload flow, and ``files.info``.

``files.upload`` is retired (Slack stopped accepting it for new apps in 2024 and switched it
off in 2025); its replacement takes three calls and one wait:

1. ``files.getUploadURLExternal`` (filename, length) returns an ``upload_url`` and a
   ``file_id``;
2. the bytes are ``POST``ed to ``upload_url`` (a pre-signed URL on ``files.slack.com``; the
   token is not sent there);
3. ``files.completeUploadExternal`` finishes the upload and, given ``channel_id``, shares the
   file there;
4. the share happens **asynchronously**: until ``files.info`` shows the channel under
   ``file.shares``, the file's message is not in the channel yet (so its ``ts``, for threading
   or reactions, is unknown).

Step 4 is ``file_share_status`` (one ``files.info`` call: the file, or ``None`` for "not yet")
and ``require_file_shared`` (the same, raising ``FileNotSharedYet``, a ``relaykit.RetryAfter``).
In a relaykit job the core runs steps 1-3 as a task and ``require_file_shared`` as a second
task: each "not yet" suspends the run until the retry time, holding no worker slot, and the
task's retry limit bounds the wait. Outside relaykit, ``upload_file(wait_for_share=True)``
polls in-process instead (``wait_for_file_share``).

Slack's Swagger 2.0 description predates steps 1 and 3; they follow Slack's current method
reference pages (see ``tests/data/slack-operations.json``, where they are marked as such).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httpx2

from ._client import JSONObject, _get, _post
from .errors import FileNotSharedYet, SlackAPIError, SlackServerError

SHARE_POLL_INTERVAL = 1.0
"""Seconds between two ``files.info`` calls while waiting for a share (``files.info`` is a
Tier 4 method: 100+ calls a minute)."""


async def get_upload_url_external(
    client: httpx2.AsyncClient,
    *,
    filename: str,
    length: int,
    alt_txt: str | None = None,
    snippet_type: str | None = None,
) -> JSONObject:
    """Step 1 (``files.getUploadURLExternal``): ``{"ok", "upload_url", "file_id"}``."""
    return await _get(
        client,
        "files.getUploadURLExternal",
        filename=filename,
        length=length,
        alt_txt=alt_txt,
        snippet_type=snippet_type,
    )


async def upload_to_url(client: httpx2.AsyncClient, *, upload_url: str, content: bytes) -> None:
    """Step 2: ``POST`` the raw bytes to the pre-signed ``upload_url``.

    The URL itself authorizes the upload, so the client's ``Authorization`` header is removed
    from this one request: the token goes to no host but ``slack.com``.
    """
    if urlsplit(upload_url).scheme != "https":
        raise SlackAPIError(
            f"refusing to upload to {upload_url!r}: Slack's upload URLs are https",
            status=0,
            method="upload",
            url=upload_url,
            error=None,
        )
    request = client.build_request(
        "POST", upload_url, content=content, headers={"Content-Type": "application/octet-stream"}
    )
    request.headers.pop("Authorization", None)
    response = await client.send(request)
    if response.status_code == 200:
        return
    error = SlackServerError if response.status_code >= 500 else SlackAPIError
    raise error(
        f"Slack's upload URL answered {response.status_code}: {response.text[:200]}",
        status=response.status_code,
        method="upload",
        url=upload_url,
        error=None,
    )


async def complete_upload_external(
    client: httpx2.AsyncClient,
    *,
    files: list[dict[str, str]],
    channel_id: str | None = None,
    initial_comment: str | None = None,
    thread_ts: str | None = None,
    blocks: list[Any] | None = None,
) -> JSONObject:
    """Step 3 (``files.completeUploadExternal``): ``files`` is ``[{"id": file_id, "title":
    ...}]``; with ``channel_id`` the files are shared there (asynchronously, see step 4)."""
    return await _post(
        client,
        "files.completeUploadExternal",
        files=files,
        channel_id=channel_id,
        initial_comment=initial_comment,
        thread_ts=thread_ts,
        blocks=blocks,
    )


async def get_file_info(client: httpx2.AsyncClient, *, file: str) -> JSONObject:
    """A file's details (``files.info``); the object is under ``file``."""
    return await _get(client, "files.info", file=file)


def _is_shared(file: JSONObject, channel_id: str | None) -> bool:
    shares = file.get("shares")
    if not isinstance(shares, dict):
        return False
    channels = {channel for scope in ("public", "private") for channel in shares.get(scope) or {}}
    return bool(channels) if channel_id is None else channel_id in channels


async def file_share_status(
    client: httpx2.AsyncClient, *, file: str, channel_id: str | None = None
) -> JSONObject | None:
    """Step 4, once: the file object when it is shared (in ``channel_id``, or anywhere),
    ``None`` when Slack has not shared it yet."""
    info = await get_file_info(client, file=file)
    found: JSONObject = info["file"]
    return found if _is_shared(found, channel_id) else None


async def require_file_shared(
    client: httpx2.AsyncClient,
    *,
    file: str,
    channel_id: str | None = None,
    retry_in: float = SHARE_POLL_INTERVAL,
) -> JSONObject:
    """Step 4 as a retryable task: the shared file, or ``FileNotSharedYet(retry_in)``."""
    shared = await file_share_status(client, file=file, channel_id=channel_id)
    if shared is None:
        where = f" in {channel_id}" if channel_id else ""
        raise FileNotSharedYet(
            retry_in,
            f"file {file} is not shared{where} yet; asking again in {retry_in:g}s",
            file_id=file,
        )
    return shared


async def wait_for_file_share(
    client: httpx2.AsyncClient,
    *,
    file: str,
    channel_id: str | None = None,
    attempts: int = 30,
    interval: float = SHARE_POLL_INTERVAL,
) -> JSONObject:
    """Step 4 in-process (outside relaykit): poll up to ``attempts`` times, ``interval``
    seconds apart; raises the last ``FileNotSharedYet`` when the share never appears."""
    if attempts < 1:
        raise ValueError(f"wait_for_file_share: attempts must be >= 1, got {attempts}")
    for _ in range(attempts - 1):
        shared = await file_share_status(client, file=file, channel_id=channel_id)
        if shared is not None:
            return shared
        await asyncio.sleep(interval)
    return await require_file_shared(client, file=file, channel_id=channel_id, retry_in=interval)


async def upload_file(
    client: httpx2.AsyncClient,
    *,
    content: bytes,
    filename: str,
    title: str | None = None,
    channel_id: str | None = None,
    initial_comment: str | None = None,
    thread_ts: str | None = None,
    alt_txt: str | None = None,
    snippet_type: str | None = None,
    wait_for_share: bool = False,
    share_attempts: int = 30,
    share_interval: float = SHARE_POLL_INTERVAL,
) -> JSONObject:
    """Upload ``content`` as ``filename`` and share it in ``channel_id`` (steps 1-3).

    Returns the completed file (``{"id", "title"}``); with ``wait_for_share`` (and a
    ``channel_id``) it also waits for the share and returns the full ``files.info`` object.
    In a relaykit job, leave ``wait_for_share`` off and run ``require_file_shared`` as its own
    task, so the wait is durable (see the module docstring).
    """
    ticket = await get_upload_url_external(
        client, filename=filename, length=len(content), alt_txt=alt_txt, snippet_type=snippet_type
    )
    await upload_to_url(client, upload_url=str(ticket["upload_url"]), content=content)
    file_id = str(ticket["file_id"])
    done = await complete_upload_external(
        client,
        files=[{"id": file_id, "title": title or filename}],
        channel_id=channel_id,
        initial_comment=initial_comment,
        thread_ts=thread_ts,
    )
    completed: JSONObject = done["files"][0]
    if wait_for_share and channel_id is not None:
        return await wait_for_file_share(
            client,
            file=file_id,
            channel_id=channel_id,
            attempts=share_attempts,
            interval=share_interval,
        )
    return completed
