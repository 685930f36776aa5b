"""Every cassette agrees with Slack's Web API description, is what the generator makes, and
belongs to a test; every method the package calls is exercised by a cassette."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.spec_check import Interaction, OpenAPISpec, SpecMismatch, check_cassette, load_cassette

from tests.make_slack_cassettes import (
    CASES,
    CASSETTES,
    FILES_V2_OPERATIONS,
    OPERATIONS,
    OPERATIONS_FILE,
    render_cassettes,
)

FILES = sorted(CASSETTES.rglob("*.yaml"))
# Slack answers errors with HTTP 200 and ok: false, declared as each method's `default`
# response; the token is a bearer header, though some methods declare it in the query.
SPEC = OpenAPISpec.load(OPERATIONS_FILE, ok_false_response="default", credential_params=["token"])
UPLOAD_HOST = "files.slack.com"


def check_upload(item: Interaction) -> list[str]:
    """The upload URL is not part of the Web API description; Slack's reference says: POST the
    raw bytes (or a multipart form) to the URL files.getUploadURLExternal returned; 200 means
    stored."""
    problems = []
    if item.method != "POST" or not urlsplit(item.uri).path.startswith("/upload/v1/"):
        problems.append(f"{item.method} {item.uri} is not a POST to an upload URL")
    if not item.request_body:
        problems.append("the upload sends no bytes")
    if item.status != 200 or not item.response_body.startswith(b"OK - "):
        problems.append(f"the upload answered {item.status} {item.response_body[:40]!r}")
    return problems


def check_with_uploads(path: Path) -> None:
    """``check_cassette``, with interactions on the upload host checked by ``check_upload``."""
    items = load_cassette(path)
    if all(urlsplit(item.uri).netloc != UPLOAD_HOST for item in items):
        check_cassette(path, SPEC)
        return
    problems = [
        f"{path}: interaction {index} ({item.method} {item.uri}): {problem}"
        for index, item in enumerate(items)
        for problem in (
            check_upload(item) if urlsplit(item.uri).netloc == UPLOAD_HOST else SPEC.check(item)
        )
    ]
    if problems:
        raise SpecMismatch("\n".join(problems))


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_cassette_matches_the_description(path: Path) -> None:
    check_with_uploads(path)


def test_cassettes_are_exactly_what_the_generator_makes() -> None:
    rendered = render_cassettes(SPEC.document)
    assert sorted(rendered) == FILES, "run make_slack_cassettes.py: cassettes were added/removed"
    stale = [str(path) for path, text in rendered.items() if path.read_text() != text]
    assert not stale, f"run make_slack_cassettes.py: these cassettes were edited by hand: {stale}"


def test_every_cassette_has_its_test() -> None:
    for module, test in CASES:
        source = (CASSETTES.parent / f"{module}.py").read_text()
        assert re.search(rf"^def {test}\(", source, re.MULTILINE), f"{module}.py has no {test}"


def test_every_method_the_package_calls_has_a_cassette() -> None:
    used = set()
    for path in FILES:
        for item in load_cassette(path):
            if urlsplit(item.uri).netloc == UPLOAD_HOST:
                continue
            found = SPEC.find_path(urlsplit(item.uri).path.removeprefix("/api"))
            assert found is not None
            used.add((item.method, found[0]))
    assert used == set(OPERATIONS) | set(FILES_V2_OPERATIONS)


def test_the_hand_written_methods_are_marked_as_such() -> None:
    # The official description lacks the external-upload methods: the extract says where
    # their description comes from, so nobody mistakes it for Slack's.
    for method, path in FILES_V2_OPERATIONS:
        operation = SPEC.document["paths"][path][method.lower()]
        assert operation["x-relaykit-source"].startswith("hand-written from https://api.slack.com")


def test_a_cassette_that_drifts_from_the_description_fails(tmp_path: Path) -> None:
    text = (CASSETTES / "test_slack_chat" / "test_post_message.yaml").read_text()
    drifted = tmp_path / "drifted.yaml"
    # A form field the method does not declare, then an error code chat.postMessage never sends.
    drifted.write_text(text.replace('"text": "Here', '"txt": "Here'))
    with pytest.raises(SpecMismatch, match="request form field 'txt' is not declared"):
        check_cassette(drifted, SPEC)
    error = (CASSETTES / "test_slack_chat" / "test_post_message_channel_not_found.yaml").read_text()
    drifted.write_text(error.replace('"channel_not_found"', '"no_such_error"'))
    with pytest.raises(SpecMismatch, match=r"responses/default/schema: at \$\.error"):
        check_cassette(drifted, SPEC)


def test_an_upload_that_is_not_one_fails(tmp_path: Path) -> None:
    text = (CASSETTES / "test_slack_files" / "test_upload_file.yaml").read_text()
    drifted = tmp_path / "drifted.yaml"
    drifted.write_text(text.replace("string: OK - 22", "string: Forbidden"))
    with pytest.raises(SpecMismatch, match="the upload answered 200 b'Forbidden'"):
        check_with_uploads(drifted)
