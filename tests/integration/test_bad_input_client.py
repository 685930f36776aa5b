"""Hostile input through the Python client and ``io``, on SQLite and PostgreSQL (``client`` is
parametrized over both): a deeply nested payload is a ``JsonTooDeep`` from relaykit's
serializer, and a NUL character in a name or key is a one-line ``ConfigurationError`` at the
call — on PostgreSQL too, whose ``text`` cannot hold one (the driver's ``DataError`` never
reaches the user, and a run is never left ``running``). Nothing is stored for a refused call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import relaykit
from relaykit import Client, Context, JsonTooDeep, SerializationError
from relaykit.errors import ConfigurationError, InvalidJobDefinition
from relaykit.server import Access


def deep_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_deep_python_payload_is_json_too_deep_and_stores_nothing(client: Client) -> None:
    @client.define_job(id="echo", version="1.0.0")
    async def echo(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return payload

    deep = deep_list(3000)

    async def go() -> None:
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: client.send_event("user.created", deep),
            lambda: client.enqueue("echo", deep),
            lambda: client.run("echo", deep),
            lambda: client.send_event("user.created", deep_list(201)),
        ]
        for call in calls:
            with pytest.raises(JsonTooDeep, match="more than 200 levels deep") as caught:
                await call()
            assert isinstance(caught.value, SerializationError)
        assert await client.store.list_events() == []
        assert await client.store.list_runs() == []
        # At the limit: fine.
        result = await client.run("echo", deep_list(200))
        assert result.status == "succeeded" and result.output == deep_list(200)
        await client.close()

    asyncio.run(go())


def test_a_task_returning_deep_json_fails_the_run_with_the_reason(client: Client) -> None:
    @client.define_job(id="deep-output", version="1.0.0")
    async def deep_output(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return await io.run_task("build", lambda: deep_list(1000))

    async def go() -> None:
        result = await client.run("deep-output")
        assert result.status == "failed"
        assert result.error is not None and "more than 200 levels deep" in result.error["message"]
        await client.close()

    asyncio.run(go())


def test_nul_in_the_clients_names_and_keys_is_one_line_and_stores_nothing(
    client: Client,
) -> None:
    @client.define_job(id="echo", version="1.0.0")
    async def echo(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return payload

    schedule = client.define_schedule("per-user")

    @client.define_job(id="nightly", version="1.0.0", trigger=schedule)
    async def nightly(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return payload

    async def go() -> None:
        access = Access(await client.open(), client.clock)
        calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("the event name", lambda: client.send_event("user\x00created", 1)),
            ("the event id", lambda: client.send_event("user.created", 1, id="a\x00b")),
            ("the event source", lambda: client.send_event("x", 1, source="a\x00b")),
            ("the idempotency key", lambda: client.enqueue("echo", 1, idempotency_key="k\x00")),
            ("the API key name", lambda: access.create_key("ci\x00")),
            ("the user name", lambda: access.create_user("ada\x00", "long enough pw")),
        ]
        for what, call in calls:
            with pytest.raises(ConfigurationError, match=f"{what} .* contains a NUL") as caught:
                await call()
            assert "\n" not in str(caught.value)
        with pytest.raises(InvalidJobDefinition, match="NUL"):
            await schedule.register("user\x00", cron="0 9 * * *")
        assert await client.store.list_events() == []
        assert await client.store.list_runs() == []
        assert await client.store.list_api_keys() == []
        # A NUL inside a payload's strings is JSON (an escape): fine on both backends.
        sent = await client.send_event("user.created", {"n\x00": "a\x00b"})
        assert sent["payload"] == {"n\x00": "a\x00b"}
        result = await client.run("echo", ["\x00"])
        assert (result.status, result.output) == ("succeeded", ["\x00"])
        await client.close()

    asyncio.run(go())


IN_RUN: dict[str, Callable[[relaykit.IO], Awaitable[Any]]] = {
    "task key": lambda io: io.run_task("fetch\x00", lambda: 1),
    "task name": lambda io: io.run_task("fetch", lambda: 1, name="Fetch\x00"),
    "store name": lambda io: io.store.job.set("remember", "last\x00id", 1),
    "log message": lambda io: io.logger.info("hello\x00world"),
    "wait_for_event name": lambda io: io.wait_for_event("wait", "order\x00paid", timeout=60),
    "send_event name": lambda io: io.send_event("send", "order\x00paid", {}),
    "send_event id": lambda io: io.send_event("send", "order.paid", {}, id="o\x00"),
}


@pytest.mark.parametrize("case", sorted(IN_RUN))
def test_nul_in_a_runs_names_and_keys_fails_the_run_with_one_line(
    client: Client, case: str
) -> None:
    @client.define_job(id="job", version="1.0.0")
    async def job(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        await io.run_task("before", lambda: "fine")
        return await IN_RUN[case](io)

    async def go() -> None:
        result = await client.run("job")
        assert result.status == "failed", result
        assert result.error is not None
        assert "NUL" in result.error["message"] and "\n" not in result.error["message"]
        assert result.error["type"] in ("ConfigurationError", "RelaykitError")
        assert [t.key for t in result.tasks] == ["before"]  # nothing with a NUL was written
        assert await client.store.list_events() == []
        await client.close()

    asyncio.run(go())
