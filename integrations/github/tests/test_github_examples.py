"""``GitHub.example_delivery``: the samples ``relaykit webhooks send`` posts and the dashboard's
test-run form starts from. Each is GitHub's published example (compared with the extract in
``tests/data``), aimed at the source, and accepted by ``GitHub.handle_webhook`` with the
secret it was signed with (and refused with another)."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from relaykit import WebhookRejected, WebhookRequest
from relaykit.definitions.filters import matches
from relaykit_github import GitHub
from relaykit_github._examples import EXAMPLES_FILE
from tests.github_examples import deliveries

SECRET = "0123456789abcdef" * 4
NOW = 1_796_000_000.0
GITHUB = GitHub(token="unused")


@dataclass
class Secrets:
    values: dict[str, str] = field(default_factory=dict)

    async def get(self, name: str) -> str | None:
        return self.values.get(name)

    async def set(self, name: str, value: str) -> None:
        self.values[name] = value


def _request(source: str, headers: Any, body: bytes) -> WebhookRequest:
    return WebhookRequest("github", source, dict(headers), body, NOW)


def _published(name: str) -> dict[str, Any]:
    """The first published example of ``name`` (``event.action``), from the test extract."""
    event, _, action = name.partition(".")
    for delivered, body in deliveries(event):
        if delivered == event and body.get("action", None) == (action or None):
            return body
    raise AssertionError(f"no published example {name}")


@pytest.mark.parametrize("name", GITHUB.webhook_examples())
def test_each_sample_is_accepted_and_becomes_its_event(name: str) -> None:
    example = GITHUB.example_delivery(name, SECRET, source_id="acme/crm", now=NOW)
    assert example is not None
    secrets = Secrets({"webhook_secret": SECRET})

    request = _request("acme/crm", example.headers, example.body)
    answer = asyncio.run(GITHUB.handle_webhook(request, secrets))

    if name == "ping":
        assert answer.events == ()
        return
    (event,) = answer.events
    assert event.name == example.event == f"github.{name}"
    assert event.id == example.event_id
    assert event.payload == example.payload == json.loads(example.body)
    # GitHub's example, but about the source's repository
    published = copy.deepcopy(_published(name))
    sent = copy.deepcopy(example.payload)
    for body in (published, sent):
        if isinstance(body.get("repository"), dict):
            for key in ("name", "full_name", "updated_at"):
                body["repository"].pop(key, None)
            body["repository"].get("owner", {}).pop("login", None)
        if isinstance(body.get("organization"), dict):
            body["organization"].pop("login", None)
    assert sent == published
    if "repository" in example.payload:
        assert example.payload["repository"]["full_name"] == "acme/crm"


def test_a_sample_signed_with_another_secret_is_refused() -> None:
    example = GITHUB.example_delivery("issues.opened", "not-it", source_id="acme/crm", now=NOW)
    assert example is not None
    with pytest.raises(WebhookRejected) as refused:
        asyncio.run(
            GITHUB.handle_webhook(
                _request("acme/crm", example.headers, example.body),
                Secrets({"webhook_secret": SECRET}),
            )
        )
    assert refused.value.status == 401


def test_samples_match_the_trigger_of_their_source_and_differ_each_second() -> None:
    trigger = GITHUB.triggers.repo(event="issues.opened", owner="acme", repo="crm")
    assert GITHUB.example_source(trigger.filter) == "acme/crm"
    first = GITHUB.example_delivery("issues.opened", SECRET, source_id="acme/crm", now=NOW)
    again = GITHUB.example_delivery("issues.opened", SECRET, source_id="acme/crm", now=NOW + 1)
    assert first is not None and again is not None
    assert trigger.filter is not None and matches(trigger.filter, first.payload)
    assert first.body != again.body  # not dropped as a replay of the first
    assert first.event_id != again.event_id
    org = GITHUB.triggers.org(event="push", org="acme")
    assert GITHUB.example_source(org.filter) == "acme"
    pushed = GITHUB.example_delivery("push", SECRET, source_id="acme", now=NOW)
    assert pushed is not None and org.filter is not None and matches(org.filter, pushed.payload)
    assert GITHUB.example_delivery("issues.nope", SECRET, source_id="acme/crm", now=NOW) is None


def test_the_shipped_file_is_what_the_script_makes(tmp_path: Path) -> None:
    """The script regenerates the shipped file byte for byte from the published examples
    (rebuilt here from the test extract, which has the same examples)."""
    with gzip.open(Path(__file__).parent / "data" / "webhook-examples.json.gz", "rt") as fh:
        events = json.load(fh)["events"]
    specs = tmp_path / "specs"
    specs.mkdir()
    with gzip.open(specs / "github-webhook-examples.json.gz", "wt", encoding="utf-8") as fh:
        json.dump(events, fh)
    script = Path(__file__).parents[1] / "scripts" / "make_webhook_examples.py"
    out = tmp_path / "made.json.gz"
    done = subprocess.run(
        [sys.executable, str(script), "--specs", str(specs), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == EXAMPLES_FILE.read_bytes()
