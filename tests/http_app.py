"""The app the HTTP API, schemathesis and browser tests serve (``relaykit serve
tests/http_app.py`` or ``make_client(...)`` in-process)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

import relaykit
from relaykit import Client, Context, event_trigger
from relaykit._base.clock import Clock

#: The password the dashboard tests give their user ``ada``.
PASSWORD = "correct horse battery"


class UserCreated(BaseModel):
    """The payload of ``user.created``."""

    email: str


def make_client(database_url: str | None = None, *, clock: Clock | None = None) -> Client:
    """A client with the test jobs, on ``database_url``."""
    client = Client(id="http", database_url=database_url, clock=clock, max_payload_bytes=4096)

    @client.define_job(id="hello", name="Hello", version="1.2.3")
    async def hello(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
        async def outer() -> int:
            inner: int = await io.run_task("inner", lambda: 20)
            return inner + 1

        total = await io.run_task("outer", outer)
        await io.logger.info("computed", total=total)
        return {"total": total, "payload": payload}

    @client.define_job(id="slow", name="Slow", version="1.0.0")
    async def slow(payload: Any, io: relaykit.IO, ctx: Context) -> str:
        async def first() -> str:
            await asyncio.sleep(float((payload or {}).get("seconds", 1.5)))
            return "first done"

        await io.run_task("first", first)
        second: str = await io.run_task("second", lambda: "second done")
        return second

    @client.define_job(id="waiter", name="Waiter", version="1.0.0")
    async def waiter(payload: Any, io: relaykit.IO, ctx: Context) -> str:
        await io.run_task("before", lambda: "ready")
        await io.wait("pause", seconds=3600)
        return "woke"

    @client.define_job(
        id="welcome",
        name="Welcome",
        version="2.0.0",
        trigger=event_trigger(name="user.created", schema=UserCreated),
    )
    async def welcome(payload: UserCreated, io: relaykit.IO, ctx: Context) -> str:
        return f"welcome {payload.email}"

    @client.define_job(id="remember", name="Remember", version="1.0.0")
    async def remember(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return await io.store.job.get("read", "greeting")

    return client


client = make_client()
