"""Issue tasks against cassettes generated from GitHub's OpenAPI description."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import NonRetriable, RetryAfter
from relaykit_github import (
    GitHubRateLimited,
    GitHubRequestError,
    GitHubServerError,
    add_issue_assignees,
    add_issue_comment_reaction,
    add_issue_labels,
    create_issue,
    create_issue_comment,
    create_issue_comment_with_reaction,
    get_issue,
)
from tests.github_replay import call

pytestmark = pytest.mark.vcr
REPO = {"owner": "octocat", "repo": "Hello-World"}
NEW_ISSUE = {"title": "Found a bug", "body": "I'm having a problem with this.", "labels": ["bug"]}


def test_create_issue(cassette: Any) -> None:
    issue = call(create_issue, **REPO, **NEW_ISSUE)
    assert issue["number"] == 1347
    assert issue["html_url"] == "https://github.com/octocat/Hello-World/issues/1347"
    assert issue["state"] == "open"


def test_get_issue(cassette: Any) -> None:
    issue = call(get_issue, **REPO, issue_number=1347)
    assert issue["number"] == 1347
    assert issue["user"]["login"] == "octocat"


def test_add_issue_assignees(cassette: Any) -> None:
    issue = call(add_issue_assignees, **REPO, issue_number=1347, assignees=["hubot", "other_user"])
    assert issue["assignees"][0]["login"] == "octocat"


def test_add_issue_labels(cassette: Any) -> None:
    labels = call(add_issue_labels, **REPO, issue_number=1347, labels=["bug", "enhancement"])
    assert [label["name"] for label in labels] == ["bug", "enhancement"]


def test_create_issue_comment(cassette: Any) -> None:
    comment = call(create_issue_comment, **REPO, issue_number=1347, body="Me too")
    assert comment["id"] == 1
    assert comment["body"] == "Me too"


def test_add_issue_comment_reaction(cassette: Any) -> None:
    reaction = call(add_issue_comment_reaction, **REPO, comment_id=1, content="heart")
    assert reaction["content"] == "heart"


def test_create_issue_comment_with_reaction(cassette: Any) -> None:
    result = call(
        create_issue_comment_with_reaction,
        **REPO,
        issue_number=1347,
        body="Me too",
        reaction="rocket",
    )
    assert result["comment"]["id"] == 1
    assert result["reaction"]["id"] == 1


def test_get_issue_not_found(cassette: Any) -> None:
    with pytest.raises(GitHubRequestError) as caught:
        call(get_issue, **REPO, issue_number=9999)
    assert isinstance(caught.value, NonRetriable)
    assert caught.value.status == 404
    assert "404 to GET https://api.github.com/repos/octocat/Hello-World/issues/9999" in str(
        caught.value
    )


def test_create_issue_invalid(cassette: Any) -> None:
    with pytest.raises(GitHubRequestError, match=r"422 .*Validation Failed"):
        call(create_issue, **REPO, title="")


def test_create_issue_rate_limited(cassette: Any) -> None:
    with pytest.raises(GitHubRateLimited) as caught:
        call(create_issue, **REPO, **NEW_ISSUE)
    assert isinstance(caught.value, RetryAfter)
    assert caught.value.kind == "primary"
    assert caught.value.github_message == "API rate limit exceeded for user ID 1."


def test_create_issue_unavailable(cassette: Any) -> None:
    with pytest.raises(GitHubServerError, match="503") as caught:
        call(create_issue, **REPO, **NEW_ISSUE)
    assert caught.value.retriable is True
