"""Chat completions against cassettes generated from OpenAI's OpenAPI description, with the
failure cases: a rate limit, an exhausted quota, a server error, a bad key."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import NonRetriable, RetryAfter
from relaykit_openai import (
    OpenAIQuotaExceeded,
    OpenAIRateLimited,
    OpenAIRequestError,
    OpenAITransientError,
    create_chat_completion,
    usage_properties,
)
from tests.openai_replay import call, run

pytestmark = pytest.mark.vcr
CHAT: dict[str, Any] = {
    "model": "gpt-5.4",
    "messages": [
        {"role": "developer", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
    ],
}


def test_create_chat_completion(cassette: Any) -> None:
    outcome = run(
        lambda client: create_chat_completion(client, **CHAT, idempotency_key="run_01:chat")
    )
    completion = outcome.value
    assert completion is not None
    assert completion["id"] == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert completion["choices"][0]["message"]["content"].startswith("Hello! How can I")
    assert [request.headers["idempotency-key"] for request in outcome.sent] == ["run_01:chat"]
    assert usage_properties(completion) == {
        "model": "gpt-5.4",
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
    }


def test_rate_limit_waits_for_the_exhausted_limit(cassette: Any) -> None:
    # Requests are exhausted (reset in 6m0s); tokens are not (their 15ms reset is irrelevant).
    with pytest.raises(OpenAIRateLimited) as caught:
        call(create_chat_completion, **CHAT)
    assert isinstance(caught.value, RetryAfter)
    assert caught.value.seconds == 360.0
    assert (caught.value.status, caught.value.code) == (429, "rate_limit_exceeded")
    assert caught.value.request_id == "req_0123456789abcdef0123456789abcdef"
    assert "retrying in 360s" in str(caught.value)


def test_insufficient_quota_is_not_retried(cassette: Any) -> None:
    with pytest.raises(OpenAIQuotaExceeded) as caught:
        call(create_chat_completion, **CHAT)
    assert isinstance(caught.value, NonRetriable)
    assert not isinstance(caught.value, RetryAfter)
    assert caught.value.retriable is False
    assert "add credit" in str(caught.value)


def test_server_error_is_not_retried_by_the_sdk(cassette: Any) -> None:
    # The SDK would retry a 500 twice by default; relaykit owns retries, so one request is sent
    # and the failure comes back at once, as a retriable error.
    outcome = run(
        lambda client: create_chat_completion(client, **CHAT, idempotency_key="run_01:chat")
    )
    assert isinstance(outcome.error, OpenAITransientError)
    assert outcome.error.retriable is True
    assert outcome.error.status == 500
    assert len(outcome.sent) == 1
    assert outcome.sent[0].headers["x-stainless-retry-count"] == "0"


def test_invalid_api_key(cassette: Any) -> None:
    with pytest.raises(
        OpenAIRequestError, match=r"401 .*check the API key.*Incorrect API key"
    ) as caught:
        call(create_chat_completion, **CHAT)
    assert caught.value.code == "invalid_api_key"
    assert caught.value.retriable is False


def test_streaming_is_refused_before_any_request() -> None:
    outcome = run(lambda client: create_chat_completion(client, **CHAT, stream=True))
    assert isinstance(outcome.error, ValueError)
    assert "does not stream" in str(outcome.error)
    assert outcome.sent == []
