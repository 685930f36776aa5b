"""Job options: the payload size limit, on_success/on_failure callbacks, enabled=False."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from relaykit import (
    Client,
    NonRetriable,
    PayloadTooLarge,
    RunResult,
    RunStatus,
    Worker,
    event_trigger,
)


def test_payload_over_the_limit_is_refused_and_nothing_is_stored(db_url: str) -> None:
    client = Client("limits", database_url=db_url, max_payload_bytes=100)

    @client.define_job(id="j", version="1.0.0", trigger=event_trigger("big"))
    async def job(payload: Any, io: Any, ctx: Any) -> None:
        return None

    async def go() -> tuple[int, int]:
        with pytest.raises(PayloadTooLarge, match=r"payload for job 'j' is [\d,]+ bytes"):
            await client.run("j", {"blob": "x" * 200})
        with pytest.raises(PayloadTooLarge, match="max_payload_bytes"):
            await client.send_event("big", {"blob": "x" * 200})
        small = await client.send_event("big", {"blob": "x"})
        store = await client.open()
        runs = await store.list_runs()
        events = await store.list_events()
        await client.close()
        assert small["runs"] == [runs[0].id]
        return len(runs), len(events)

    assert asyncio.run(go()) == (1, 1)


def test_callbacks_get_the_ended_run_once(db_url: str) -> None:
    client = Client("callbacks", database_url=db_url)
    seen: list[tuple[str, RunStatus, Any]] = []

    async def succeeded(result: RunResult) -> None:
        seen.append(("success", result.status, result.output))

    def failed(result: RunResult) -> None:
        seen.append(("failure", result.status, result.error and result.error["type"]))

    @client.define_job(id="ok", version="1.0.0", on_success=succeeded, on_failure=failed)
    async def ok(payload: Any, io: Any, ctx: Any) -> int:
        return int(await io.run_task("t", lambda: 7))

    @client.define_job(id="bad", version="1.0.0", on_success=succeeded, on_failure=failed)
    async def bad(payload: Any, io: Any, ctx: Any) -> None:
        def boom() -> None:
            raise NonRetriable("no")

        await io.run_task("t", boom)

    client.run_sync("ok")
    client.run_sync("bad")
    asyncio.run(client.close())
    assert seen == [
        ("success", RunStatus.SUCCEEDED, 7),
        ("failure", RunStatus.FAILED, "TaskFailed"),
    ]


def test_a_failing_callback_is_logged_and_does_not_change_the_run(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client("callbacks", database_url=db_url)

    def explode(result: RunResult) -> None:
        raise RuntimeError("callback broke")

    @client.define_job(id="ok", version="1.0.0", on_success=explode)
    async def ok(payload: Any, io: Any, ctx: Any) -> str:
        return "fine"

    with caplog.at_level(logging.ERROR, logger="relaykit.engine"):
        result = client.run_sync("ok")
    asyncio.run(client.close())
    assert result.status is RunStatus.SUCCEEDED and result.output == "fine"
    assert "callback of job 'ok' failed" in caplog.text


def test_disabled_jobs_get_no_runs_from_events_or_workers(db_url: str) -> None:
    client = Client("disabled", database_url=db_url)
    ran: list[str] = []

    @client.define_job(id="on", version="1.0.0", trigger=event_trigger("ping"))
    async def on(payload: Any, io: Any, ctx: Any) -> None:
        ran.append("on")

    @client.define_job(id="off", version="1.0.0", trigger=event_trigger("ping"), enabled=False)
    async def off(payload: Any, io: Any, ctx: Any) -> None:
        ran.append("off")

    async def go() -> list[str]:
        sent = await client.send_event("ping", {})
        queued = await client.enqueue("off")  # queued by hand: a worker still leaves it alone
        await Worker(client, exit_when_idle=True).run()
        status = (await client.get_run(queued)).status
        await client.close()
        assert status is RunStatus.QUEUED
        return [str(r) for r in sent["runs"]]

    runs = asyncio.run(go())
    assert len(runs) == 1
    assert ran == ["on"]
