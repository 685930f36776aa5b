"""Every cassette agrees with OpenAI's OpenAPI description, is what the generator makes, and
belongs to a test; every operation the package calls is exercised by a cassette."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.spec_check import check_cassette, load_cassette

from tests.make_openai_cassettes import API, CASES, CASSETTES, OPERATIONS, render_cassettes
from tests.openai_spec import OPERATIONS_FILE, load_spec

FILES = sorted(CASSETTES.rglob("*.yaml"))
SPEC = load_spec()


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_cassette_matches_the_openapi_description(path: Path) -> None:
    check_cassette(path, SPEC)


def test_cassettes_are_exactly_what_the_generator_makes() -> None:
    rendered = render_cassettes(json.loads(OPERATIONS_FILE.read_text()))
    assert sorted(rendered) == FILES, "run make_openai_cassettes.py: cassettes were added/removed"
    stale = [str(path) for path, text in rendered.items() if path.read_text() != text]
    assert not stale, f"run make_openai_cassettes.py: these cassettes were edited by hand: {stale}"


def test_every_cassette_has_its_test() -> None:
    for module, test in CASES:
        source = (CASSETTES.parent / f"{module}.py").read_text()
        assert re.search(rf"^def {test}\(", source, re.MULTILINE), f"{module}.py has no {test}"


def test_every_operation_the_package_calls_has_a_cassette() -> None:
    used = set()
    for path in FILES:
        for interaction in load_cassette(path):
            found = SPEC.find_path(interaction.uri.removeprefix(API).split("?")[0])
            assert found is not None
            used.add((interaction.method, found[0]))
    assert used == set(OPERATIONS)


def test_the_error_cassettes_are_checked_against_the_error_schema(tmp_path: Path) -> None:
    # The overlay's 4XX/5XX responses hold the description's ErrorResponse: an error body
    # without OpenAI's {"error": {...}} envelope fails the check.
    text = (CASSETTES / "test_openai_chat" / "test_invalid_api_key.yaml").read_text()
    drifted = tmp_path / "drifted.yaml"
    drifted.write_text(text.replace('"error": {', '"failure": {'))
    with pytest.raises(AssertionError, match=r"response body \(401\) .*'error' is a required"):
        check_cassette(drifted, SPEC)


def test_a_cassette_that_drifts_from_the_description_fails(tmp_path: Path) -> None:
    # The same check on a hand-edited copy: the messages sent as a string, the path misspelt.
    text = (CASSETTES / "test_openai_chat" / "test_create_chat_completion.yaml").read_text()
    drifted = tmp_path / "drifted.yaml"
    drifted.write_text(text.replace('"messages": [', '"messages": "hi", "x": ['))
    with pytest.raises(AssertionError, match=r"interaction 0 .*request body"):
        check_cassette(drifted, SPEC)
    drifted.write_text(text.replace("v1/chat/completions", "v1/chat/completion"))
    with pytest.raises(AssertionError, match="matches no path template"):
        check_cassette(drifted, SPEC)
