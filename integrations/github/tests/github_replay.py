"""Running API functions against the test's cassette through a real ``httpx2.AsyncClient``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from relaykit_github import create_client

T = TypeVar("T")

# A real-looking token: the cassettes must still never contain it (the scrubber drops the
# Authorization header; tests/test_cassette_secrets.py scans every cassette).
TOKEN = "ghp_" + "0123456789abcdefghij0123456789abcdef"


def call(function: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
    """``await function(client, **kwargs)`` with a fresh GitHub client, replayed by vcrpy."""

    async def run() -> T:
        async with create_client(TOKEN) as client:
            return await function(client, **kwargs)

    return asyncio.run(run())
