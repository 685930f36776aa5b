"""Slack's OAuth v2 token response, turned into a standard OAuth 2.0 token.

``oauth.v2.access`` (both the code exchange and, with token rotation, the refresh) answers in
its own shape:

- ``{"ok": false, "error": "invalid_code"}`` (HTTP 200) instead of an RFC 6749 error;
- ``token_type`` is ``"bot"`` or ``"user"``, not ``"Bearer"`` (an authlib client would refuse
  to sign requests with it: it knows only bearer and MAC tokens);
- the bot token is at the top level, the installing user's token under ``authed_user``, and
  with only user scopes requested the top level has no token at all;
- ``scope`` is comma-separated (RFC 6749 says space-separated);
- ``refresh_token``/``expires_in`` appear only when the app has token rotation on;
- workspace facts (``team``, ``enterprise``, ``app_id``, ``bot_user_id``) ride along.

``normalize_oauth_v2_response`` makes the token dict an authlib-style store expects
(``access_token``, ``token_type: "Bearer"``, ``refresh_token``, ``expires_in``/``expires_at``,
``scope``), with Slack's own token type kept as ``slack_token_type`` and the workspace facts
as plain keys (``team_id``, ``bot_user_id``, ...). The other token, when there is one, is
nested in the same shape under ``user_token`` (or ``bot_token``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .errors import SlackOAuthError

_HINTS = {
    "invalid_code": "the code expired or was used already; start the OAuth flow again",
    "code_already_used": "the code was used already; start the OAuth flow again",
    "bad_redirect_uri": "redirect_uri must equal the one sent to /oauth/v2/authorize",
    "invalid_client_id": "check the app's client ID",
    "bad_client_secret": "check the app's client secret",
    "invalid_refresh_token": "the refresh token was revoked or used; reconnect the workspace",
    "invalid_grant_type": "grant_type must be authorization_code or refresh_token",
}


def _scope(value: Any) -> str | None:
    """Slack's comma-separated scopes, space-separated as RFC 6749 writes them."""
    if not value:
        return None
    return " ".join(part.strip() for part in str(value).split(",") if part.strip())


def _token(source: Mapping[str, Any], *, now: float) -> dict[str, Any]:
    """The standard fields of one token object (top level, or ``authed_user``)."""
    token: dict[str, Any] = {
        "access_token": source["access_token"],
        "token_type": "Bearer",
        "slack_token_type": source.get("token_type"),
        "scope": _scope(source.get("scope")),
        "refresh_token": source.get("refresh_token"),
    }
    expires_in = source.get("expires_in")
    if expires_in is not None:
        token["expires_in"] = int(expires_in)
        token["expires_at"] = int(now) + int(expires_in)
    return {key: value for key, value in token.items() if value is not None}


def _facts(response: Mapping[str, Any]) -> dict[str, Any]:
    team = response.get("team") or {}
    enterprise = response.get("enterprise") or {}
    authed_user = response.get("authed_user") or {}
    facts = {
        "team_id": team.get("id"),
        "team_name": team.get("name"),
        "enterprise_id": enterprise.get("id"),
        "enterprise_name": enterprise.get("name"),
        "is_enterprise_install": response.get("is_enterprise_install"),
        "app_id": response.get("app_id"),
        "bot_user_id": response.get("bot_user_id"),
        "authed_user_id": authed_user.get("id"),
        # The incoming webhook's URL is itself a credential: it is kept here, in the token
        # the core stores encrypted, and never in a task's output.
        "incoming_webhook": response.get("incoming_webhook"),
    }
    return {key: value for key, value in facts.items() if value is not None}


def normalize_oauth_v2_response(
    response: Mapping[str, Any], *, now: float, prefer: Literal["bot", "user"] = "bot"
) -> dict[str, Any]:
    """A standard OAuth 2.0 token dict from an ``oauth.v2.access`` response.

    ``now`` (epoch seconds) turns ``expires_in`` into ``expires_at``. ``prefer`` picks which
    token is the main one when Slack issued both; the other is nested under ``user_token`` or
    ``bot_token``. A response with only a user token makes that one the main token.

    Raises ``SlackOAuthError`` (a ``relaykit.NonRetriable``) when Slack answered
    ``ok: false`` or issued no token.
    """
    if response.get("ok") is not True:
        error = response.get("error")
        code = str(error) if error is not None else None
        hint = _HINTS.get(code or "", "")
        raise SlackOAuthError(
            f"Slack refused the token request: {code or 'no error code'}"
            + (f" ({hint})" if hint else ""),
            error=code,
        )
    authed_user = response.get("authed_user") or {}
    top = _token(response, now=now) if response.get("access_token") else None
    user = _token(authed_user, now=now) if authed_user.get("access_token") else None
    if user is not None:
        user.setdefault("slack_token_type", "user")
    if top is not None and (prefer == "bot" or user is None):
        out = top | _facts(response)
        if user is not None:
            out["user_token"] = user
        return out
    if user is not None:
        out = user | _facts(response)
        if top is not None:
            out["bot_token"] = top
        return out
    raise SlackOAuthError(
        "Slack's oauth.v2.access response holds no access token; request at least one bot "
        "or user scope",
        error=None,
    )
