"""Running task functions against the test's cassette through the real ``openai`` SDK.

The SDK sends through a real ``httpx2.AsyncClient`` (vcrpy replays it); an event hook keeps
every request that left the client, so a test can count attempts and read the headers sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx2
import openai

from relaykit_openai import create_client

T = TypeVar("T")

# A real-looking key: the cassettes must still never contain it (the scrubber drops the
# Authorization header; tests/test_cassette_secrets.py scans every cassette).
API_KEY = "sk-proj-" + "0123456789abcdefghij0123456789abcdefghij"


@dataclass
class Replay(Generic[T]):
    """What a replayed scenario returned or raised, and the requests it sent."""

    value: T | None = None
    error: BaseException | None = None
    sent: list[httpx2.Request] = field(default_factory=list)


def run(scenario: Callable[[openai.AsyncOpenAI], Awaitable[T]]) -> Replay[T]:
    """Run ``scenario(client)`` with a fresh client; keeps its error instead of raising it."""
    outcome: Replay[T] = Replay()

    async def keep(request: httpx2.Request) -> None:
        outcome.sent.append(request)

    async def main() -> None:
        http = httpx2.AsyncClient(event_hooks={"request": [keep]})
        async with create_client(API_KEY, http_client=http) as client:
            try:
                outcome.value = await scenario(client)
            except Exception as exc:  # kept for the test to assert on
                outcome.error = exc

    asyncio.run(main())
    return outcome


def call(function: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
    """``await function(client, **kwargs)`` replayed by vcrpy; raises what it raised."""
    outcome = run(lambda client: function(client, **kwargs))
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[return-value]  # set whenever no error was raised
