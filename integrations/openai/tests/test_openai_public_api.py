"""relaykit_openai's public surface is exactly ``__all__``, and the client factory's settings."""

from __future__ import annotations

import asyncio
import types

import httpx2
import pytest

import relaykit_openai
from relaykit_openai import API_URL, create_client


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(relaykit_openai).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.add("__version__")
    assert set(relaykit_openai.__all__) == public


def test_every_public_name_has_a_docstring() -> None:
    undocumented = [
        name
        for name in relaykit_openai.__all__
        if callable(obj := getattr(relaykit_openai, name)) and not (obj.__doc__ or "").strip()
    ]
    assert not undocumented


def test_create_client_turns_the_sdks_retries_off() -> None:
    async def check() -> None:
        http = httpx2.AsyncClient()
        async with create_client("key", http_client=http, organization="org-1") as client:
            assert client.max_retries == 0
            assert client.api_key == "key"
            assert client.organization == "org-1"
            assert str(client.base_url) == API_URL + "/"

    asyncio.run(check())


def test_create_client_refuses_an_empty_key() -> None:
    with pytest.raises(ValueError, match="OpenAI API key is empty"):
        create_client("")
