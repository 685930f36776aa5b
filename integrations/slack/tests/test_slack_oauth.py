"""oauth.v2.access responses, normalised into standard OAuth 2.0 tokens: the example Slack's
description publishes, token rotation, user-only installs and refusals."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from tests.spec_check import Interaction, OpenAPISpec

from relaykit import NonRetriable
from relaykit_slack import Slack, SlackOAuthError, normalize_oauth_v2_response
from tests.make_slack_cassettes import OPERATIONS_FILE

SPEC = OpenAPISpec.load(OPERATIONS_FILE, ok_false_response="default")
RESPONSES = SPEC.document["paths"]["/oauth.v2.access"]["get"]["responses"]
NOW = 1_700_000_000.0


def published(status: str) -> dict[str, Any]:
    """The example the description publishes for oauth.v2.access (tokens redacted)."""
    example: dict[str, Any] = RESPONSES[status]["examples"]["application/json"]
    return example


def as_interaction(body: dict[str, Any]) -> Interaction:
    """The response as if oauth.v2.access had answered it, for the spec checker."""
    return Interaction(
        method="GET",
        uri="https://slack.com/api/oauth.v2.access?code=4724469134.4644010092847.232b4e",
        request_headers={},
        request_body=None,
        status=200,
        response_headers={"content-type": "application/json"},
        response_body=json.dumps(body).encode(),
    )


def test_the_published_example_becomes_a_bearer_token() -> None:
    example = published("200")
    assert SPEC.check(as_interaction(example)) == []
    token = normalize_oauth_v2_response(example, now=NOW)
    assert token == {
        "access_token": example["access_token"],
        "token_type": "Bearer",
        "slack_token_type": "bot",
        "scope": "commands incoming-webhook",
        "team_id": "T9TK3CUKW",
        "team_name": "Slack Softball Team",
        "enterprise_id": "E12345678",
        "enterprise_name": "slack-sports",
        "app_id": "A0KRD7HC3",
        "bot_user_id": "U0KRQLJ9H",
        "authed_user_id": "U1234",
        "user_token": {
            "access_token": "xoxp-1234",
            "token_type": "Bearer",
            "slack_token_type": "user",
            "scope": "chat:write",
        },
    }


def test_prefer_user_makes_the_user_token_the_main_one() -> None:
    token = normalize_oauth_v2_response(published("200"), now=NOW, prefer="user")
    assert (token["access_token"], token["slack_token_type"]) == ("xoxp-1234", "user")
    assert token["bot_token"]["slack_token_type"] == "bot"
    assert "user_token" not in token


ROTATING = {
    "ok": True,
    "app_id": "A0KRD7HC3",
    "authed_user": {"id": "U1234"},
    "scope": "chat:write,channels:read",
    "token_type": "bot",
    "access_token": "rotating-bot-access-token",
    "bot_user_id": "U0KRQLJ9H",
    "refresh_token": "rotating-bot-refresh-token",
    "expires_in": 43200,
    "team": {"id": "T9TK3CUKW", "name": "Slack Softball Team"},
    "enterprise": None,
    "is_enterprise_install": False,
}


def test_token_rotation_gives_a_refresh_token_and_an_expiry() -> None:
    assert SPEC.check(as_interaction(ROTATING)) == []
    token = normalize_oauth_v2_response(ROTATING, now=NOW)
    assert token["refresh_token"] == "rotating-bot-refresh-token"
    assert (token["expires_in"], token["expires_at"]) == (43200, 1_700_043_200)
    assert token["is_enterprise_install"] is False
    assert "enterprise_id" not in token  # "enterprise": null
    assert "user_token" not in token  # authed_user without a token of its own


def test_a_user_only_install_makes_the_user_token_the_main_one() -> None:
    response = {
        "ok": True,
        "app_id": "A0KRD7HC3",
        "authed_user": {
            "id": "U1234",
            "scope": "search:read,users:read",
            "access_token": "user-access-token",
            "token_type": "user",
            "refresh_token": "user-refresh-token",
            "expires_in": 43200,
        },
        "team": {"id": "T9TK3CUKW"},
    }
    token = normalize_oauth_v2_response(response, now=NOW)
    assert token["access_token"] == "user-access-token"
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "search:read users:read"
    assert (token["refresh_token"], token["expires_at"]) == ("user-refresh-token", 1_700_043_200)
    assert "bot_token" not in token


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (None, "invalid_client_id (check the app's client ID)"),  # the published error example
        ({"ok": False, "error": "invalid_code"}, "the code expired or was used already"),
        ({"ok": False, "error": "bad_redirect_uri"}, "redirect_uri must equal"),
        ({"ok": False}, "no error code"),
        ({"error": "invalid_code"}, "invalid_code"),  # no ok flag is not a success
        ({"ok": True, "app_id": "A1"}, "holds no access token"),
    ],
)
def test_refusals_raise_a_clear_non_retriable_error(
    response: dict[str, Any] | None, message: str
) -> None:
    body = published("default") if response is None else response
    if response is None:
        assert SPEC.check(as_interaction(body)) == []
    with pytest.raises(SlackOAuthError, match=re.escape(message)) as caught:
        normalize_oauth_v2_response(body, now=NOW)
    assert isinstance(caught.value, NonRetriable)


def test_slack_builds_credentials_from_a_user_only_install() -> None:
    # What the core's token hook should do (see docs/integrations/slack.md): the core alone
    # finds no top-level access_token in a user-scopes-only install and refuses it.
    user_token = "xoxp-" + "1234-5678-abcdefghijkl"
    response: dict[str, Any] = {
        "ok": True,
        "app_id": "A0KRD7HC3",
        "authed_user": {
            "id": "U1234",
            "scope": "chat:write,search:read",
            "access_token": user_token,
            "token_type": "user",
            "refresh_token": "xoxe-" + "1-refresh-abcdefghijkl",
            "expires_in": 43200,
        },
        "team": {"id": "T9TK3CUKW", "name": "Slack Softball Team"},
    }
    credentials = Slack.credentials_from_oauth_response(response, now=NOW)
    assert credentials.access_token == user_token
    assert (credentials.token_type, credentials.scope) == ("Bearer", "chat:write search:read")
    assert credentials.expires_at == NOW + 43200
    with pytest.raises(SlackOAuthError, match="invalid_code"):
        Slack.credentials_from_oauth_response({"ok": False, "error": "invalid_code"}, now=NOW)
