"""Pull request tasks against cassettes."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit_github import create_pull, get_pull, list_pulls, merge_pull
from tests.github_replay import call

pytestmark = pytest.mark.vcr
REPO = {"owner": "octocat", "repo": "Hello-World"}


def test_create_pull(cassette: Any) -> None:
    pull = call(
        create_pull,
        **REPO,
        title="Amazing new feature",
        body="Please pull these awesome changes in!",
        head="octocat:new-feature",
        base="master",
    )
    assert pull["number"] == 1347
    assert pull["head"]["ref"] == "new-topic"


def test_get_pull(cassette: Any) -> None:
    pull = call(get_pull, **REPO, pull_number=1347)
    assert pull["state"] == "open"


def test_list_pulls(cassette: Any) -> None:
    pulls = call(list_pulls, **REPO, state="open", per_page=2)
    assert [pull["number"] for pull in pulls] == [1347, 1347]  # one per page


def test_merge_pull(cassette: Any) -> None:
    merged = call(
        merge_pull,
        **REPO,
        pull_number=1347,
        commit_title="Expand enum",
        commit_message="Add a new value to the merge_method enum",
    )
    assert merged["merged"] is True
