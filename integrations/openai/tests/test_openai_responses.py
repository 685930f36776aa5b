"""The Responses API, including a background response polled until it finishes."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import NonRetriable
from relaykit_openai import OpenAIJobFailed, create_response, response_status, usage_properties
from tests.openai_replay import run

pytestmark = pytest.mark.vcr
RESPONSE_ID = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
STORY = {"model": "gpt-5.4", "input": "Tell me a three sentence bedtime story about a unicorn."}


def test_create_response(cassette: Any) -> None:
    outcome = run(lambda client: create_response(client, **STORY, idempotency_key="run_01:story"))
    response = outcome.value
    assert response is not None
    assert response["status"] == "completed"
    assert response["output"][0]["content"][0]["text"].startswith("In a peaceful grove")
    assert outcome.sent[0].headers["idempotency-key"] == "run_01:story"
    assert usage_properties(response) == {
        "model": "gpt-5.4",
        "prompt_tokens": 36,
        "completion_tokens": 87,
        "total_tokens": 123,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
    }


def test_background_response_until_finished(cassette: Any) -> None:
    async def scenario(client: Any) -> list[Any]:
        created = await create_response(
            client, **STORY, background=True, idempotency_key="run_01:story"
        )
        # The polling steps a durable wait repeats: in progress, then finished.
        first = await response_status(client, response_id=created["id"])
        second = await response_status(client, response_id=created["id"])
        return [created, first, second]

    outcome = run(scenario)
    assert outcome.error is None
    created, first, second = outcome.value or []
    assert (created["status"], created["background"]) == ("queued", True)
    assert usage_properties(created) == {}
    assert first is None
    assert second["status"] == "completed"
    assert usage_properties(second)["total_tokens"] == 50
    assert [r.method for r in outcome.sent] == ["POST", "GET", "GET"]


def test_background_response_failed(cassette: Any) -> None:
    outcome = run(lambda client: response_status(client, response_id=RESPONSE_ID))
    assert isinstance(outcome.error, OpenAIJobFailed)
    assert isinstance(outcome.error, NonRetriable)
    assert outcome.error.kind == "response"
    assert outcome.error.result["status"] == "failed"
    assert str(outcome.error) == (
        f"OpenAI response {RESPONSE_ID} ended failed: server_error: The model failed to respond."
    )
