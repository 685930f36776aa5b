"""Git data tasks (blobs, commits, refs, tags, trees) against cassettes."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit_github import (
    create_blob,
    create_commit,
    create_ref,
    create_tag,
    create_tree,
    get_blob,
    get_commit,
    get_ref,
    get_tag,
    get_tree,
    list_matching_refs,
    update_ref,
)
from tests.github_replay import call

pytestmark = pytest.mark.vcr
REPO = {"owner": "octocat", "repo": "Hello-World"}
COMMIT = "7638417db6d59f3c431d3e1f261cc637155684cd"
FEATURE_SHA = "aa218f56b14c9653891f9e74264a383fa43fefbd"


def test_create_blob(cassette: Any) -> None:
    blob = call(create_blob, **REPO, content="Content of the blob")
    assert blob["sha"] == "3a0f86fb8db8eea7ccbb9a95f325ddbedfb25e15"


def test_get_blob(cassette: Any) -> None:
    blob = call(get_blob, **REPO, file_sha="3a0f86fb8db8eea7ccbb9a95f325ddbedfb25e15")
    assert blob["encoding"] == "base64"


def test_create_commit(cassette: Any) -> None:
    commit = call(
        create_commit,
        **REPO,
        message="my commit message",
        tree="827efc6d56897b048c772eb4087f854f46256132",
        parents=[COMMIT],
    )
    assert commit["message"] == "my commit message"


def test_get_commit(cassette: Any) -> None:
    commit = call(get_commit, **REPO, commit_sha=COMMIT)
    assert commit["sha"] == COMMIT


# Both spellings of the ref send the same request, so they share one cassette.
@pytest.mark.default_cassette("test_get_ref.yaml")
@pytest.mark.parametrize("ref", ["heads/featureA", "refs/heads/featureA"])
def test_get_ref(ref: str, cassette: Any) -> None:
    found = call(get_ref, **REPO, ref=ref)
    assert found["ref"] == "refs/heads/featureA"


def test_create_ref(cassette: Any) -> None:
    ref = call(create_ref, **REPO, ref="refs/heads/featureA", sha=FEATURE_SHA)
    assert ref["object"]["sha"] == FEATURE_SHA


def test_create_ref_needs_a_full_ref_name() -> None:
    with pytest.raises(ValueError, match="must start with 'refs/'"):
        call(create_ref, **REPO, ref="heads/featureA", sha=FEATURE_SHA)


def test_update_ref(cassette: Any) -> None:
    ref = call(update_ref, **REPO, ref="heads/featureA", sha=FEATURE_SHA, force=True)
    assert ref["object"]["sha"] == FEATURE_SHA


def test_list_matching_refs(cassette: Any) -> None:
    refs = call(list_matching_refs, **REPO, ref="heads/feature")
    assert [ref["ref"] for ref in refs] == ["refs/heads/feature-a", "refs/heads/feature-b"]


def test_create_tag(cassette: Any) -> None:
    tag = call(
        create_tag,
        **REPO,
        tag="v0.0.1",
        message="initial version",
        object="c3d0be41ecbe669545ee3e94d31ed9a4bc91ee3c",
    )
    assert tag["tag"] == "v0.0.1"


def test_get_tag(cassette: Any) -> None:
    tag = call(get_tag, **REPO, tag_sha="940bd336248efae0f9ee5bc7b2d5c985887b16ac")
    assert tag["object"]["type"] == "commit"


def test_create_tree(cassette: Any) -> None:
    entry = {
        "path": "file.rb",
        "mode": "100644",
        "type": "blob",
        "sha": "44b4fc6d56897b048c772eb4087f854f46256132",
    }
    tree = call(
        create_tree, **REPO, tree=[entry], base_tree="9fb037999f264ba9a7fc6274d15fa3ae2ab98312"
    )
    assert tree["tree"][0]["path"] == "file.rb"


def test_get_tree(cassette: Any) -> None:
    tree = call(
        get_tree, **REPO, tree_sha="fc6274d15fa3ae2ab983129fb037999f264ba9a7", recursive=True
    )
    assert tree["truncated"] is False
    assert any("/" in entry["path"] for entry in tree["tree"])  # subtrees' entries are included
