"""Sample deliveries: GitHub's published examples, aimed at a webhook source and signed.

``webhook_examples.json.gz`` (beside this module) holds one example of each (event, action) of
the events jobs most often trigger on, unchanged from ``@octokit/webhooks-examples`` 7.6.1
(MIT); ``integrations/github/scripts/make_webhook_examples.py`` regenerates it. An example is
made for a source before it is signed: its ``repository`` becomes the source's ``owner/repo``
(or, for an organization's source, its ``organization`` the source's login), so the job a
``github.triggers.repo(...)`` on that repository defines matches it; and the repository's
``updated_at`` is the time of sending, so two samples sent a second apart are two bodies (the
webhook route drops a signed body it saw within ``REPLAY_WINDOW_SECONDS``).
"""

from __future__ import annotations

import copy
import gzip
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from relaykit import WebhookExample

from ._webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign

EXAMPLES_FILE = Path(__file__).with_name("webhook_examples.json.gz")


@cache
def _examples() -> dict[str, Any]:
    with gzip.open(EXAMPLES_FILE, "rt", encoding="utf-8") as fh:
        found: dict[str, Any] = json.load(fh)["examples"]
    return found


def example_names() -> tuple[str, ...]:
    """The examples' names (``issues.opened``, ``push``), sorted."""
    return tuple(sorted(_examples()))


#: A sample's source when no trigger names one: the repository of GitHub's examples.
DEFAULT_SOURCE = "Codertocat/Hello-World"


def _first(value: Any) -> str | None:
    """The first plain string of a filter's list (``["acme/crm"]``), if it is one."""
    if isinstance(value, list) and value and isinstance(value[0], str):
        return value[0]
    return None


def source_of(trigger_filter: Mapping[str, Any] | None) -> str:
    """The source a ``github.triggers.repo``/``org`` filter picks (``owner/repo``, an
    organization), else ``DEFAULT_SOURCE``."""
    where = trigger_filter or {}
    repository, organization = where.get("repository"), where.get("organization")
    full_name = _first(repository.get("full_name")) if isinstance(repository, Mapping) else None
    login = _first(organization.get("login")) if isinstance(organization, Mapping) else None
    return full_name or login or DEFAULT_SOURCE


def _aim(body: dict[str, Any], source_id: str, now: float) -> None:
    """Make ``body`` a delivery about ``source_id`` (``owner/repo`` or an organization)."""
    owner, _, repo = source_id.partition("/")
    repository = body.get("repository")
    if isinstance(repository, dict):
        name = repo or str(repository.get("name", "repo"))
        repository["name"] = name
        repository["full_name"] = f"{owner}/{name}"
        if isinstance(repository.get("owner"), dict):
            repository["owner"]["login"] = owner
        repository["updated_at"] = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    organization = body.get("organization")
    if isinstance(organization, dict):
        organization["login"] = owner
    elif not repo:  # an organization's hook: GitHub names the organization in every delivery
        body["organization"] = {"login": owner}


def example_delivery(
    name: str, secret: str, *, source_id: str, now: float
) -> WebhookExample | None:
    """The example ``name`` as GitHub would deliver it to ``source_id``, signed with ``secret``
    (``X-Hub-Signature-256``) under a new ``X-GitHub-Delivery`` id; None for an unknown name."""
    entry = _examples().get(name)
    if entry is None:
        return None
    payload: dict[str, Any] = copy.deepcopy(entry["body"])
    _aim(payload, source_id, now)
    body = json.dumps(payload, separators=(",", ":")).encode()
    delivery = str(uuid.uuid4())
    headers = {
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/relaykit-example",
        EVENT_HEADER: str(entry["event"]),
        DELIVERY_HEADER: delivery,
        SIGNATURE_HEADER: sign(body, secret),
    }
    return WebhookExample(name, f"github.{name}", payload, headers, body, f"github:{delivery}")
