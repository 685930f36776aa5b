"""Messages and reactions against cassettes generated from Slack's Web API description."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import NonRetriable, RetryAfter
from relaykit_slack import (
    SlackAPIError,
    SlackRateLimited,
    SlackServerError,
    add_reaction,
    delete_message,
    post_message,
    update_message,
)
from tests.slack_replay import call

pytestmark = pytest.mark.vcr


def test_post_message(cassette: Any) -> None:
    posted = call(post_message, channel="C1H9RESGL", text="Here's a message for you")
    assert (posted["channel"], posted["ts"]) == ("C1H9RESGL", "1503435956.000247")
    assert posted["message"]["text"] == "Here's a message for you"


def test_post_message_with_blocks_in_a_thread(cassette: Any) -> None:
    # Blocks travel as a JSON array (a JSON body), not as JSON text inside a form field.
    posted = call(
        post_message,
        channel="C1H9RESGL",
        text="Deploy finished",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Deployed*"}}],
        thread_ts="1503435956.000100",
    )
    assert posted["ok"] is True


def test_update_message(cassette: Any) -> None:
    updated = call(
        update_message,
        channel="C024BE91L",
        ts="1401383885.000061",
        text="Updated text you carefully authored",
    )
    assert updated["text"] == "Updated text you carefully authored"


def test_delete_message(cassette: Any) -> None:
    deleted = call(delete_message, channel="C024BE91L", ts="1401383885.000061")
    assert deleted == {"channel": "C024BE91L", "ok": True, "ts": "1401383885.000061"}


def test_add_reaction(cassette: Any) -> None:
    reacted = call(
        add_reaction, channel="C1H9RESGL", timestamp="1503435956.000247", name="thumbsup"
    )
    assert reacted == {"ok": True}


def test_post_message_channel_not_found(cassette: Any) -> None:
    with pytest.raises(SlackAPIError) as caught:
        call(post_message, channel="C0000000000", text="hello")
    error = caught.value
    assert isinstance(error, NonRetriable)
    assert (error.status, error.method, error.error) == (
        200,
        "chat.postMessage",
        "channel_not_found",
    )
    assert "Slack answered 200 to chat.postMessage: channel_not_found (check the channel ID" in str(
        error
    )


def test_post_message_rate_limited(cassette: Any) -> None:
    with pytest.raises(SlackRateLimited) as caught:
        call(post_message, channel="C1H9RESGL", text="hello")
    assert isinstance(caught.value, RetryAfter)
    assert caught.value.seconds == 30.0  # Slack's Retry-After header, exactly
    assert caught.value.status == 429


def test_update_message_fatal_error(cassette: Any) -> None:
    with pytest.raises(SlackServerError) as caught:
        call(update_message, channel="C024BE91L", ts="1401383885.000061", text="again")
    assert caught.value.retriable is True
    assert not isinstance(caught.value, NonRetriable)
    assert caught.value.error == "fatal_error"
