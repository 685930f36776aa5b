"""Repository and webhook tasks (repository and organization hooks) against cassettes."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit_github import (
    create_org_webhook,
    create_repo_webhook,
    get_repo,
    list_org_webhooks,
    list_repo_webhooks,
    update_org_webhook,
    update_repo_webhook,
)
from tests.github_replay import call

pytestmark = pytest.mark.vcr
REPO = {"owner": "octocat", "repo": "Hello-World"}
HOOK = {"url": "https://example.com/webhook", "events": ["push", "pull_request"]}
# The cassette holds "<redacted>": the scrubber rewrites the secret before matching, the same
# way it did before recording, so the real secret never reaches a file.
SECRET = "a-webhook-secret-that-must-not-be-recorded"


def test_get_repo(cassette: Any) -> None:
    repo = call(get_repo, **REPO)
    assert repo["full_name"] == "octocat/Hello-World"
    assert repo["default_branch"] == "master"


def test_list_repo_webhooks(cassette: Any) -> None:
    hooks = call(list_repo_webhooks, **REPO, per_page=2)
    assert len(hooks) == 2  # one hook on each of the two pages
    assert all(hook["config"]["url"] == "https://example.com/webhook" for hook in hooks)


def test_create_repo_webhook(cassette: Any) -> None:
    hook = call(create_repo_webhook, **REPO, **HOOK, secret=SECRET)
    assert hook["id"] == 12345678
    assert hook["events"] == ["push", "pull_request"]


def test_update_repo_webhook(cassette: Any) -> None:
    hook = call(
        update_repo_webhook,
        **REPO,
        hook_id=12345678,
        events=["issues", "issue_comment"],
        active=True,
    )
    assert hook["id"] == 12345678


def test_list_org_webhooks(cassette: Any) -> None:
    hooks = call(list_org_webhooks, org="octo-org")
    assert hooks[0]["type"] == "Organization"


def test_create_org_webhook(cassette: Any) -> None:
    hook = call(create_org_webhook, org="octo-org", **HOOK, secret=SECRET)
    assert hook["name"] == "web"
    assert hook["config"]["url"] == "http://example.com"


def test_update_org_webhook(cassette: Any) -> None:
    hook = call(
        update_org_webhook, org="octo-org", hook_id=1, url="https://example.com/new", active=False
    )
    assert hook["id"] == 1
