"""Embeddings and image generation."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit_openai import create_embedding, generate_image, usage_properties
from tests.openai_replay import call, run

pytestmark = pytest.mark.vcr


def test_create_embedding(cassette: Any) -> None:
    outcome = run(
        lambda client: create_embedding(
            client,
            model="text-embedding-ada-002",
            input="The food was delicious and the waiter...",
            idempotency_key="run_01:embed",
        )
    )
    result = outcome.value
    assert result is not None
    # Plain floats (encoding_format="float"), so the recorded output is readable JSON.
    assert result["data"][0]["embedding"] == [0.0023064255, -0.009327292]
    assert outcome.sent[0].headers["idempotency-key"] == "run_01:embed"
    assert usage_properties(result) == {
        "model": "text-embedding-ada-002",
        "prompt_tokens": 8,
        "total_tokens": 8,
    }


def test_generate_image(cassette: Any) -> None:
    result = call(generate_image, model="gpt-image-1.5", prompt="A cute baby sea otter", n=1)
    assert result["data"][0]["b64_json"] == "..."
    assert usage_properties(result) == {
        "prompt_tokens": 50,
        "completion_tokens": 50,
        "total_tokens": 100,
    }
