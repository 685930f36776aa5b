"""``slack.triggers``: event triggers on the events Slack's Events API delivers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, final

import pydantic

from relaykit import event_trigger, merge_filters
from relaykit.definitions.triggers import EventTrigger

from ._events import EVENT_PREFIX

SOURCE = "slack"
"""The ``source`` of every event ``Slack.handle_webhook`` sends."""


@final
class SlackTriggers:
    """The triggers of one ``Slack`` integration: ``slack.triggers.events(...)``."""

    def __init__(self, integration_id: str) -> None:
        self.integration_id = integration_id

    def __repr__(self) -> str:
        return f"<SlackTriggers of {self.integration_id!r}>"

    def events(
        self,
        event: str | Sequence[str] = "app_mention",
        *,
        filter: Mapping[str, Any] | None = None,
        schema: type[pydantic.BaseModel] | None = None,
    ) -> EventTrigger:
        """Start a run for each Events API event of type ``event`` (or any of a list).

        Types are Slack's (``app_mention``, ``reaction_added``, ``message``), or
        ``message.<subtype>`` for one kind of message (``message.bot_message``); they become
        relaykit event names ``slack.<type>``. The run's payload is Slack's envelope (``event``,
        ``team_id``, ``event_id``, ...) without its verification token; ``filter`` is an event
        filter on it (``{"event": {"channel": ["C0123"]}}``) and ``schema`` validates it.
        """
        types = (event,) if isinstance(event, str) else tuple(event)
        # A name already spelled ``slack.x`` is kept: prefixing it again would never match.
        names = [t if t.startswith(EVENT_PREFIX) else f"{EVENT_PREFIX}{t}" for t in types]
        # The events trigger has no constraint of its own (the source and names do the
        # picking), but goes through merge_filters like every integration trigger: a
        # constraint added here later is ANDed with the user's filter, never replaced by it.
        where = f"{self.integration_id}.triggers.events({event!r})"
        merged = None if filter is None else merge_filters(filter, where=where)
        return event_trigger(names, filter=merged, schema=schema, source=SOURCE)
