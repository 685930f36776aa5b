"""Conversations and cursor pagination against cassettes generated from Slack's description."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import NonRetriable
from relaykit_slack import (
    SlackAPIError,
    get_conversation_history,
    get_conversation_info,
    get_conversation_replies,
    iter_conversation_history,
    iter_conversations,
    join_conversation,
    list_conversations,
    next_cursor,
)
from tests.slack_replay import call, collect

pytestmark = pytest.mark.vcr


def test_join_conversation(cassette: Any) -> None:
    joined = call(join_conversation, channel="C061EG9SL")
    assert joined["channel"]["name"] == "general"
    assert joined["warning"] == "already_in_channel"


def test_join_conversation_missing_scope(cassette: Any) -> None:
    with pytest.raises(SlackAPIError) as caught:
        call(join_conversation, channel="C061EG9SL")
    error = caught.value
    assert isinstance(error, NonRetriable)
    assert (error.error, error.needed, error.provided) == (
        "missing_scope",
        "channels:join",
        "chat:write,channels:read",
    )
    assert "needs scope 'channels:join'" in str(error)


def test_list_conversations(cassette: Any) -> None:
    page = call(list_conversations, types="public_channel", exclude_archived=True, limit=2)
    assert [channel["name"] for channel in page["channels"]] == ["general", "random"]
    assert next_cursor(page) == "dGVhbTpDMDYxRkE1UEI="


def test_iter_conversations_follows_the_cursor(cassette: Any) -> None:
    channels = collect(iter_conversations, types="public_channel", limit=2)
    # Page 1 has general and random; page 2 (empty next_cursor: the last) has random.
    assert [channel["id"] for channel in channels] == ["C012AB3CD", "C061EG9T2", "C061EG9T2"]


def test_get_conversation_history(cassette: Any) -> None:
    history = call(
        get_conversation_history, channel="C012AB3CD", oldest="1512085950.000216", inclusive=True
    )
    assert [message["ts"] for message in history["messages"]] == [
        "1512085950.000216",
        "1512104434.000490",
    ]
    assert history["has_more"] is True


def test_iter_conversation_history_stops_at_max_pages(cassette: Any) -> None:
    # The page has a next cursor, but max_pages=1 stops there: one request, two messages.
    messages = collect(iter_conversation_history, channel="C012AB3CD", limit=2, max_pages=1)
    assert len(messages) == 2


def test_get_conversation_replies(cassette: Any) -> None:
    thread = call(get_conversation_replies, channel="C012AB3CD", ts="1482960137.003543")
    assert thread["messages"][0]["reply_count"] == 3
    assert {message["thread_ts"] for message in thread["messages"]} == {"1482960137.003543"}


def test_get_conversation_info(cassette: Any) -> None:
    info = call(get_conversation_info, channel="C012AB3CD", include_num_members=False)
    assert info["channel"]["id"] == "C012AB3CD"
    assert info["channel"]["is_member"] is True


def test_get_conversation_info_not_found(cassette: Any) -> None:
    with pytest.raises(SlackAPIError, match=r"conversations\.info: channel_not_found"):
        call(get_conversation_info, channel="C0000000000")
