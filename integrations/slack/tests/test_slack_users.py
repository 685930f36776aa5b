"""Users against cassettes generated from Slack's Web API description."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import NonRetriable
from relaykit_slack import SlackAPIError, get_user_info, lookup_user_by_email
from tests.slack_replay import call

pytestmark = pytest.mark.vcr


def test_get_user_info(cassette: Any) -> None:
    user = call(get_user_info, user="W012A3CDE")["user"]
    assert (user["id"], user["name"]) == ("W012A3CDE", "spengler")


def test_get_user_info_invalid_auth(cassette: Any) -> None:
    with pytest.raises(SlackAPIError) as caught:
        call(get_user_info, user="W012A3CDE")
    assert isinstance(caught.value, NonRetriable)
    assert "reconnect the Slack connection" in str(caught.value)


def test_lookup_user_by_email(cassette: Any) -> None:
    found = call(lookup_user_by_email, email="spengler@ghostbusters.example.com")
    assert found["user"]["profile"]["email"] == "spengler@ghostbusters.example.com"


def test_lookup_user_by_email_not_found(cassette: Any) -> None:
    with pytest.raises(SlackAPIError) as caught:
        call(lookup_user_by_email, email="nobody@example.com")
    assert caught.value.error == "users_not_found"
