"""Typed, lenient models of the Events API envelopes and the common events.

Every model keeps the fields it does not declare (``extra="allow"``): Slack adds fields often,
and an event is still usable when a model lags behind. Only the fields a job routes on are
required (an envelope's ``event_id``, an event's ``type``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class SlackModel(BaseModel):
    """Base of the Slack payload models: unknown fields are kept, not rejected."""

    model_config = ConfigDict(extra="allow")


class Authorization(SlackModel):
    """One installation the event is visible to (``authorizations[]`` of an envelope)."""

    enterprise_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    is_bot: bool | None = None
    is_enterprise_install: bool | None = None


class EventEnvelope(SlackModel):
    """An ``event_callback`` request: one event, wrapped with where and when it happened.

    The ``token`` field (Slack's deprecated verification token, a shared secret) is removed
    before the envelope becomes a relaykit event payload; signatures replace it.
    """

    type: Literal["event_callback"] = "event_callback"
    event_id: str
    event_time: int | None = None
    team_id: str | None = None
    api_app_id: str | None = None
    enterprise_id: str | None = None
    event: dict[str, Any]
    authed_users: list[str] | None = None
    authorizations: list[Authorization] | None = None
    is_ext_shared_channel: bool | None = None
    event_context: str | None = None


class UrlVerificationRequest(SlackModel):
    """The ``url_verification`` request Slack sends when a Request URL is saved."""

    type: Literal["url_verification"] = "url_verification"
    challenge: str


class AppRateLimitedNotice(SlackModel):
    """``app_rate_limited``: Slack is dropping this app's events (over 30,000 an hour)."""

    type: Literal["app_rate_limited"] = "app_rate_limited"
    team_id: str | None = None
    api_app_id: str | None = None
    minute_rate_limited: int | None = None


class SlackEvent(SlackModel):
    """Any event (the ``event`` object of an envelope); subclasses type the common ones."""

    type: str
    event_ts: str | None = None


class MessageEvent(SlackEvent):
    """``message`` (and its subtypes: ``bot_message``, ``message_changed``, ...)."""

    type: Literal["message"] = "message"
    subtype: str | None = None
    channel: str | None = None
    channel_type: str | None = None
    user: str | None = None
    bot_id: str | None = None
    text: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None


class AppMentionEvent(SlackEvent):
    """``app_mention``: a message that mentions the app's bot user."""

    type: Literal["app_mention"] = "app_mention"
    channel: str
    user: str | None = None
    text: str = ""
    ts: str
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None


class ReactionItem(SlackModel):
    """What was reacted to: a message (``channel`` + ``ts``) or a file."""

    type: str
    channel: str | None = None
    ts: str | None = None
    file: str | None = None


class ReactionAddedEvent(SlackEvent):
    """``reaction_added``: ``user`` added the emoji ``reaction`` to ``item``."""

    type: Literal["reaction_added"] = "reaction_added"
    user: str
    reaction: str
    item: ReactionItem
    item_user: str | None = None


class ReactionRemovedEvent(SlackEvent):
    """``reaction_removed``: the reverse of ``reaction_added``."""

    type: Literal["reaction_removed"] = "reaction_removed"
    user: str
    reaction: str
    item: ReactionItem
    item_user: str | None = None


EVENT_MODELS: dict[str, type[SlackEvent]] = {
    "message": MessageEvent,
    "app_mention": AppMentionEvent,
    "reaction_added": ReactionAddedEvent,
    "reaction_removed": ReactionRemovedEvent,
}
"""The typed model of each common event type; other types parse as ``SlackEvent``."""


def parse_event(event: Mapping[str, Any]) -> SlackEvent:
    """The typed model of an event (an envelope's ``event``); ``SlackEvent`` for other types.

    Raises ``pydantic.ValidationError`` when a common event lacks a field jobs rely on.
    """
    model = EVENT_MODELS.get(str(event.get("type")), SlackEvent)
    return model.model_validate(dict(event))
