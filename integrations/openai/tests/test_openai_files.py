"""Files and batches: upload, wait until processed, run a batch, fetch its results."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import NonRetriable
from relaykit_openai import (
    OpenAIJobFailed,
    batch_results,
    batch_status,
    create_batch,
    create_file,
    file_status,
)
from tests.openai_replay import call, run

pytestmark = pytest.mark.vcr
BATCH_INPUT = (
    '{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", '
    '"body": {"model": "gpt-5.4", "messages": [{"role": "user", "content": "Hello!"}]}}\n'
)


def test_create_file(cassette: Any) -> None:
    outcome = run(
        lambda client: create_file(
            client,
            filename="requests.jsonl",
            content=BATCH_INPUT,
            purpose="batch",
            idempotency_key="run_01:upload",
        )
    )
    uploaded = outcome.value
    assert uploaded is not None
    assert (uploaded["id"], uploaded["status"]) == ("file-abc123", "uploaded")
    sent = outcome.sent[0]
    assert sent.headers["idempotency-key"] == "run_01:upload"
    # The boundary comes from the content, so a retried upload sends the very same body.
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=relaykit-")


def test_file_status_until_processed(cassette: Any) -> None:
    async def scenario(client: Any) -> list[Any]:
        return [await file_status(client, file_id="file-abc123") for _ in range(2)]

    outcome = run(scenario)
    assert outcome.error is None
    first, second = outcome.value or []
    assert first is None
    assert second["status"] == "processed"


def test_create_batch(cassette: Any) -> None:
    outcome = run(
        lambda client: create_batch(
            client,
            input_file_id="file-abc123",
            endpoint="/v1/chat/completions",
            idempotency_key="run_01:batch",
        )
    )
    assert outcome.value is not None
    assert (outcome.value["id"], outcome.value["status"]) == ("batch_abc123", "validating")
    assert outcome.sent[0].headers["idempotency-key"] == "run_01:batch"


def test_batch_status_then_results(cassette: Any) -> None:
    async def scenario(client: Any) -> list[Any]:
        running = await batch_status(client, batch_id="batch_abc123")
        done = await batch_status(client, batch_id="batch_abc123")
        assert done is not None
        results = await batch_results(client, file_id=done["output_file_id"])
        return [running, done, results]

    outcome = run(scenario)
    assert outcome.error is None
    running, done, results = outcome.value or []
    assert running is None
    assert (done["status"], done["output_file_id"]) == ("completed", "file-cvaTdG")
    assert [line["custom_id"] for line in results] == ["request-1", "request-2"]
    assert results[0]["response"]["body"]["choices"][0]["message"]["content"] == "Hi!"
    assert results[1]["error"]["code"] == "batch_expired"


def test_failed_batch(cassette: Any) -> None:
    with pytest.raises(OpenAIJobFailed) as caught:
        call(batch_status, batch_id="batch_abc123")
    assert isinstance(caught.value, NonRetriable)
    assert caught.value.kind == "batch"
    assert str(caught.value) == (
        "OpenAI batch batch_abc123 failed: invalid_json_line: Line 1 is not valid JSON."
    )
