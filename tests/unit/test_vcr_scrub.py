"""Cassette scrubbing: secrets in headers, JSON/form bodies and free text never reach a file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
import vcr
from tests.vcr_scrub import (
    REDACTED,
    find_tokens,
    recording_config,
    scrub_request,
    scrub_response,
    scrub_text,
)
from vcr.request import Request

GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
# Made-up tokens, built by concatenation so no secret scanner mistakes this file for a leak.
SLACK_TOKEN = "xoxb-" + "1234-5678-abcdefghijkl"
OPENAI_KEY = "sk-proj-" + "x" * 32


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"token {GITHUB_TOKEN} here", ["ghp_A1b2..."]),  # a classic GitHub token
        ("gho_abcdef123456 ghs_abcdef123456", ["gho_abcd...", "ghs_abcd..."]),  # OAuth, app
        (f"Bearer {SLACK_TOKEN}", ["xoxb-123..."]),  # a Slack bot token
        ("xoxp-99-88-77-abcdef", ["xoxp-99-..."]),  # a Slack user token
        (f'{{"key": "{OPENAI_KEY}"}}', ["sk-proj-..."]),  # an OpenAI key inside JSON
        ("task-123456 and risk-management", []),  # "sk-" inside a word is not a key
        ("ghp_short", []),  # too short to be a token
    ],
)
def test_find_tokens(text: str, found: list[str]) -> None:
    assert find_tokens(text) == found


def test_scrub_text_redacts_secret_fields_in_json_at_any_depth() -> None:
    body = {"name": "web", "config": {"url": "https://x", "secret": "hunter2"}, "token": "t"}
    scrubbed = json.loads(scrub_text(json.dumps(body), "application/json"))
    assert scrubbed == {
        "name": "web",
        "config": {"url": "https://x", "secret": REDACTED},
        "token": REDACTED,
    }


def test_scrub_text_redacts_form_fields_and_free_text_tokens() -> None:
    form = scrub_text(f"channel=C1&token={SLACK_TOKEN}", "application/x-www-form-urlencoded")
    assert form == "channel=C1&token=%3Credacted%3E"
    assert scrub_text(f"see {OPENAI_KEY}.", "text/plain") == f"see {REDACTED}."


def test_scrub_request_drops_auth_and_cookies_and_redacts_body_and_uri() -> None:
    request = Request(
        "POST",
        f"https://slack.com/api/x?token={SLACK_TOKEN}",
        json.dumps({"secret": "s", "text": GITHUB_TOKEN}).encode(),
        {
            "Authorization": f"Bearer {GITHUB_TOKEN}",
            "Cookie": "session=1",
            "Content-Type": "application/json",
        },
    )
    scrubbed = scrub_request(request)
    assert set(scrubbed.headers) == {"Content-Type"}
    assert json.loads(scrubbed.body) == {"secret": REDACTED, "text": REDACTED}
    assert SLACK_TOKEN not in scrubbed.uri


def test_scrub_response_drops_set_cookie_and_redacts_the_body() -> None:
    body = json.dumps({"access_token": "gho_abcdef123456", "ok": True}).encode()
    response: dict[str, Any] = {
        "headers": {
            "Set-Cookie": ["a=b"],
            "Content-Type": ["application/json"],
            "Content-Length": [str(len(body))],
        },
        "body": {"string": body},
        "status": {"code": 200, "message": "OK"},
    }
    scrubbed = scrub_response(response)
    assert list(scrubbed["headers"]) == ["Content-Type", "Content-Length"]
    assert json.loads(scrubbed["body"]["string"]) == {"access_token": REDACTED, "ok": True}
    assert scrubbed["headers"]["Content-Length"] == [str(len(scrubbed["body"]["string"]))]


def test_binary_bodies_pass_unchanged() -> None:
    response = {"headers": {}, "body": {"string": b"\x89PNG\xff\xfe"}}
    assert scrub_response(response)["body"]["string"] == b"\x89PNG\xff\xfe"


def test_recording_config_replays_only_and_scrubs_on_record() -> None:
    config = recording_config()
    assert config["record_mode"] == "none"
    assert "body" in config["match_on"]
    assert "authorization" in config["filter_headers"]
    assert config["before_record_request"] is scrub_request
    assert config["before_record_response"] is scrub_response


def test_recording_through_httpx2_writes_no_secret(tmp_path: Path) -> None:
    # End to end: vcrpy patches httpx2 (here its MockTransport, standing in for GitHub), records
    # with the shared config, and the file on disk holds none of the secrets that went by.
    def github(request: httpx2.Request) -> httpx2.Response:
        body = {"token": "ghs_" + "s3cr3t" * 4, "note": f"made with {OPENAI_KEY}"}
        return httpx2.Response(201, json=body, headers={"Set-Cookie": "session=abc"})

    async def send() -> httpx2.Response:
        transport = httpx2.MockTransport(github)
        async with httpx2.AsyncClient(transport=transport) as client:
            return await client.post(
                "https://api.github.com/repos/o/r/hooks",
                json={"config": {"url": "https://x", "secret": "hunter2"}},
                headers={"Authorization": f"Bearer {GITHUB_TOKEN}", "Cookie": "a=b"},
            )

    config = recording_config() | {"record_mode": "once"}
    path = tmp_path / "recorded.yaml"
    with vcr.VCR(**config).use_cassette(str(path)):
        response = asyncio.run(send())
    assert response.json()["token"].startswith("ghs_")  # the code under test saw the real reply
    # Replaying the scrubbed file works, and gives the scrubbed reply.
    with vcr.VCR(**recording_config()).use_cassette(str(path)) as cassette:
        replayed = asyncio.run(send())
    assert cassette.play_count == 1
    assert replayed.json()["token"] == REDACTED

    text = path.read_text()
    assert find_tokens(text) == []
    for secret in ("hunter2", GITHUB_TOKEN, "session=abc", "a=b"):
        assert secret not in text
    assert text.count(REDACTED) == 3  # the hook secret, the returned token, the key in the note
