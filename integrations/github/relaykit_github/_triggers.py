"""``github.triggers``: job triggers on GitHub's webhook deliveries.

A trigger is a plain ``event_trigger`` on ``github.<event>`` (``github.issues.opened``,
``github.push``) from the source ``github``, filtered on the payload's repository or
organization. One event name per GitHub event keeps matching in the store's indexed event
name; the filter (not the URL) picks the repository, so one webhook endpoint (an org hook, or
several repo hooks) can feed jobs for many repositories.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from relaykit import event_trigger, merge_filters
from relaykit.definitions.triggers import EventTrigger

if TYPE_CHECKING:
    from ._integration import GitHub


def repo_filter(owner: str, repo: str) -> dict[str, Any]:
    """The EventFilter matching deliveries about ``owner/repo``."""
    return {"repository": {"full_name": [f"{owner}/{repo}"]}}


class Triggers:
    """``github.triggers``: ``repo(...)`` and ``org(...)``.

    A ``filter`` given to either is *added* to the trigger's own constraint (``merge_filters``):
    ``filter={"repository": {"private": [True]}}`` narrows the repository trigger to that
    repository when it is private; it never widens it to other repositories.
    """

    def __init__(self, github: GitHub) -> None:
        self._github = github

    def repo(
        self,
        *,
        event: str,
        owner: str,
        repo: str,
        filter: Mapping[str, Any] | None = None,
        schema: Any = None,
    ) -> EventTrigger:
        """Runs for each ``event`` (``issues.opened``, ``push``) delivered about ``owner/repo``;
        ``filter`` adds conditions on the payload (both must hold)."""
        where = f"github.triggers.repo(event={event!r}, owner={owner!r}, repo={repo!r})"
        return event_trigger(
            f"github.{event}",
            source="github",
            schema=schema,
            filter=merge_filters(repo_filter(owner, repo), filter, where=where),
        )

    def org(
        self,
        *,
        event: str,
        org: str,
        filter: Mapping[str, Any] | None = None,
        schema: Any = None,
    ) -> EventTrigger:
        """Runs for each ``event`` delivered about any repository of the organization ``org``;
        ``filter`` adds conditions on the payload (both must hold)."""
        where = f"github.triggers.org(event={event!r}, org={org!r})"
        return event_trigger(
            f"github.{event}",
            source="github",
            schema=schema,
            filter=merge_filters({"organization": {"login": [org]}}, filter, where=where),
        )
