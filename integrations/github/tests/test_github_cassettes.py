"""Every cassette agrees with GitHub's OpenAPI description, is what the generator makes, and
belongs to a test; every operation the package calls is exercised by a cassette."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.spec_check import OpenAPISpec, check_cassette, load_cassette

from tests.make_github_cassettes import (
    CASES,
    CASSETTES,
    OPERATIONS,
    OPERATIONS_FILE,
    render_cassettes,
)

FILES = sorted(CASSETTES.rglob("*.yaml"))
# Git refs (heads/main) and file paths (docs/a.md) are sent with their slashes.
SPEC = OpenAPISpec.load(OPERATIONS_FILE, multi_segment=("ref", "path"))


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_cassette_matches_the_openapi_description(path: Path) -> None:
    check_cassette(path, SPEC)


def test_cassettes_are_exactly_what_the_generator_makes() -> None:
    rendered = render_cassettes(SPEC.document)
    assert sorted(rendered) == FILES, "run make_github_cassettes.py: cassettes were added/removed"
    stale = [str(path) for path, text in rendered.items() if path.read_text() != text]
    assert not stale, f"run make_github_cassettes.py: these cassettes were edited by hand: {stale}"


def test_every_cassette_has_its_test() -> None:
    for module, test in CASES:
        source = (CASSETTES.parent / f"{module}.py").read_text()
        assert re.search(rf"^def {test}\(", source, re.MULTILINE), f"{module}.py has no {test}"


def test_every_operation_the_package_calls_has_a_cassette() -> None:
    used = set()
    for path in FILES:
        for interaction in load_cassette(path):
            found = SPEC.find_path(
                interaction.uri.removeprefix("https://api.github.com").split("?")[0]
            )
            assert found is not None
            used.add((interaction.method, found[0]))
    assert used == set(OPERATIONS)


def test_a_cassette_that_drifts_from_the_description_fails(tmp_path: Path) -> None:
    # The same check on a hand-edited copy: the issue title sent as a list, the path misspelt.
    text = (CASSETTES / "test_github_issues" / "test_create_issue.yaml").read_text()
    drifted = tmp_path / "drifted.yaml"
    drifted.write_text(text.replace('"title": "Found a bug"', '"title": ["Found a bug"]'))
    with pytest.raises(AssertionError, match=r"interaction 0 .*at \$\.title"):
        check_cassette(drifted, SPEC)
    drifted.write_text(text.replace("Hello-World/issues", "Hello-World/isues"))
    with pytest.raises(AssertionError, match="matches no path template"):
        check_cassette(drifted, SPEC)
