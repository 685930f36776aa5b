"""Repository contents tasks against cassettes."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit_github import create_or_update_file, get_content
from tests.github_replay import call

pytestmark = pytest.mark.vcr
REPO = {"owner": "octocat", "repo": "Hello-World"}


def test_get_content(cassette: Any) -> None:
    file = call(get_content, **REPO, path="README.md", ref="main")
    assert file["type"] == "file"
    assert (file["encoding"], file["path"]) == ("base64", "README.md")


def test_create_or_update_file(cassette: Any) -> None:
    # The text is base64-encoded by the function: the cassette holds "bXkgbmV3..." (GitHub's
    # own example request), so a match proves the encoding.
    result = call(
        create_or_update_file,
        **REPO,
        path="notes/hello.txt",
        message="my commit message",
        content="my new file contents",
        committer={"name": "Monalisa Octocat", "email": "octocat@github.com"},
    )
    assert result["content"]["name"] == "hello.txt"
    assert result["commit"]["message"] == "my commit message"
