"""Running API functions against the test's cassette through a real ``httpx2.AsyncClient``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from relaykit_slack import create_client

T = TypeVar("T")

# A real-looking bot token: the cassettes must still never contain it (the scrubber drops the
# Authorization header; tests/test_cassette_secrets.py scans every cassette).
TOKEN = "xoxb-" + "1234567890-0987654321-abcdefghijklmnopqrstuvwx"


def call(function: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
    """``await function(client, **kwargs)`` with a fresh Slack client, replayed by vcrpy."""

    async def run() -> T:
        async with create_client(TOKEN) as client:
            return await function(client, **kwargs)

    return asyncio.run(run())


def collect(function: Callable[..., Any], **kwargs: Any) -> list[Any]:
    """Every item of the async iterator ``function(client, **kwargs)`` returns."""

    async def run() -> list[Any]:
        async with create_client(TOKEN) as client:
            return [item async for item in function(client, **kwargs)]

    return asyncio.run(run())
