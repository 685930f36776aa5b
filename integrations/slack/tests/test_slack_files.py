"""The external-upload flow and the share wait, against generated cassettes and a mock."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest

from relaykit import RetryAfter
from relaykit_slack import (
    FileNotSharedYet,
    SlackAPIError,
    create_client,
    file_share_status,
    get_file_info,
    get_upload_url_external,
    require_file_shared,
    upload_file,
    upload_to_url,
    wait_for_file_share,
)
from tests.slack_replay import TOKEN, call

CONTENT = b"id,name\n1,Ada\n2,Grace\n"


@pytest.mark.vcr
def test_upload_file(cassette: Any) -> None:
    # getUploadURLExternal -> POST the bytes -> completeUploadExternal (three interactions).
    done = call(
        upload_file, content=CONTENT, filename="people.csv", title="People", channel_id="C0T8SE4AU"
    )
    assert done == {"id": "F0S43PZDF", "title": "People"}


@pytest.mark.vcr
def test_upload_file_and_wait_for_the_share(cassette: Any) -> None:
    # The first files.info has no shares yet; the second shows the file in C0T8SE4AU.
    shared = call(
        upload_file,
        content=CONTENT,
        filename="people.csv",
        title="People",
        channel_id="C0T8SE4AU",
        wait_for_share=True,
        share_interval=0.0,
    )
    assert shared["id"] == "F0S43PZDF"
    assert "C0T8SE4AU" in shared["shares"]["public"]


@pytest.mark.vcr
def test_get_file_info(cassette: Any) -> None:
    info = call(get_file_info, file="F0S43PZDF")
    assert info["file"]["name"] == "tedair.gif"


@pytest.mark.vcr
def test_require_file_shared_not_yet(cassette: Any) -> None:
    with pytest.raises(FileNotSharedYet) as caught:
        call(require_file_shared, file="F0S43PZDF", channel_id="C0T8SE4AU", retry_in=5.0)
    # A RetryAfter: in a relaykit task the run suspends for exactly this long, then asks again.
    assert isinstance(caught.value, RetryAfter)
    assert (caught.value.seconds, caught.value.file_id) == (5.0, "F0S43PZDF")


@pytest.mark.vcr
def test_get_upload_url_external_error(cassette: Any) -> None:
    with pytest.raises(SlackAPIError, match=r"files\.getUploadURLExternal: invalid_length"):
        call(get_upload_url_external, filename="empty.txt", length=0)


def _files_info(shares: dict[str, Any] | None) -> dict[str, Any]:
    file: dict[str, Any] = {"id": "F0S43PZDF"}
    if shares is not None:
        file["shares"] = shares
    return {"ok": True, "file": file, "comments": []}


@pytest.mark.parametrize(
    ("shares", "channel_id", "shared"),
    [
        (None, None, False),  # no shares key at all: not shared yet
        ({}, None, False),
        ({"public": {"C1": [{"ts": "1.1"}]}}, None, True),  # any channel will do
        ({"public": {"C1": [{"ts": "1.1"}]}}, "C2", False),  # but not the one asked for
        ({"private": {"G2": [{"ts": "1.1"}]}}, "G2", True),  # private channels count too
    ],
)
def test_file_share_status_reads_the_shares(
    shares: dict[str, Any] | None, channel_id: str | None, shared: bool
) -> None:
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=_files_info(shares)))

    async def run() -> dict[str, Any] | None:
        async with create_client(TOKEN, transport=transport) as client:
            return await file_share_status(client, file="F0S43PZDF", channel_id=channel_id)

    result = asyncio.run(run())
    assert (result is not None) is shared


def test_the_token_is_not_sent_to_the_upload_url() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, text="OK - 3")

    async def run() -> None:
        async with create_client(TOKEN, transport=httpx2.MockTransport(handler)) as client:
            await upload_to_url(
                client, upload_url="https://files.slack.com/upload/v1/X", content=b"abc"
            )

    asyncio.run(run())
    [request] = seen
    assert "authorization" not in request.headers
    assert (request.method, request.content) == ("POST", b"abc")


@pytest.mark.parametrize(
    ("url", "status", "reason"),
    [
        ("http://files.slack.com/upload/v1/X", 200, "Slack's upload URLs are https"),
        ("https://files.slack.com/upload/v1/X", 403, "upload URL answered 403"),
    ],
)
def test_a_failed_upload_is_not_retried(url: str, status: int, reason: str) -> None:
    transport = httpx2.MockTransport(lambda request: httpx2.Response(status, text="expired"))

    async def run() -> None:
        async with create_client(TOKEN, transport=transport) as client:
            await upload_to_url(client, upload_url=url, content=b"abc")

    with pytest.raises(SlackAPIError, match=reason):
        asyncio.run(run())


def test_wait_for_file_share_gives_up_with_a_retry_after() -> None:
    calls: list[httpx2.Request] = []

    def never_shared(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(200, json=_files_info(None))

    async def run(attempts: int) -> dict[str, Any]:
        transport = httpx2.MockTransport(never_shared)
        async with create_client(TOKEN, transport=transport) as client:
            return await wait_for_file_share(
                client, file="F0S43PZDF", channel_id="C1", attempts=attempts, interval=0.0
            )

    with pytest.raises(FileNotSharedYet, match="not shared in C1 yet"):
        asyncio.run(run(3))
    assert len(calls) == 3  # exactly `attempts` files.info calls, then the last "not yet"
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        asyncio.run(run(0))
