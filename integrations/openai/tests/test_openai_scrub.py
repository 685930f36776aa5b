"""Recording a cassette through the SDK keeps the API key (and org/project ids) out of it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
import vcr
from tests.vcr_scrub import find_tokens, recording_config

from relaykit_openai import create_client, list_models
from tests.openai_replay import API_KEY


def test_a_recorded_cassette_holds_no_key(tmp_path: Path) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        # What would be recorded from OpenAI: the key reaches the server, and is echoed back.
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        return httpx2.Response(200, json={"object": "list", "data": [], "note": API_KEY})

    async def record() -> None:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
        client = create_client(API_KEY, organization="org-1", project="proj_1", http_client=http)
        async with client:
            await list_models(client)

    recorder = vcr.VCR(**(recording_config() | {"record_mode": "all"}))
    path = tmp_path / "recorded.yaml"
    with recorder.use_cassette(str(path)):
        asyncio.run(record())
    text = path.read_text()
    assert "/v1/models" in text  # the interaction was recorded
    assert find_tokens(text) == []
    for header in ("authorization", "openai-organization", "openai-project"):
        assert header not in text.lower()
