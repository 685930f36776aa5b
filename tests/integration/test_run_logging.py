"""Runs in stdlib logging: ``io.logger`` lines on ``relaykit.run`` (once, never again on a
replay) and one line per run end on ``relaykit.worker``, on both backends."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from pydantic import BaseModel

import relaykit
from relaykit import IO, Client, Context, RunStatus
from relaykit.testing import ManualClock


def _records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name]


def test_io_logger_lines_reach_stdlib_logging_once_across_replays(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client("logs", database_url=db_url, clock=ManualClock())

    @client.define_job(id="nightly", version="1.0.0")
    async def nightly(payload: Any, io: IO, ctx: Context) -> str:
        await io.logger.info("starting", batch=3)
        await io.wait("pause", seconds=30)  # the run suspends here and is replayed
        await io.run_task("step", lambda: "done")
        await io.logger.warn("finished late")
        return "ok"

    async def go() -> relaykit.RunResult:
        result = await client.run("nightly", {})
        await client.close()
        return result

    with caplog.at_level(logging.DEBUG, logger="relaykit.run"):
        result = asyncio.run(go())

    assert result.status is RunStatus.SUCCEEDED
    lines = _records(caplog, "relaykit.run")
    assert [(r.levelno, r.getMessage()) for r in lines] == [
        (logging.INFO, "starting"),  # logged by the first attempt, not again by the replay
        (logging.WARNING, "finished late"),
    ]
    for r in lines:
        assert r.__dict__["run_id"] == result.id
        assert r.__dict__["job_id"] == "nightly"
        assert r.__dict__["task_key"] is None
    assert lines[0].__dict__["properties"] == {"batch": 3}


def test_lines_logged_inside_a_task_name_its_key(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client("logs", database_url=db_url)

    @client.define_job(id="inner", version="1.0.0")
    async def inner(payload: Any, io: IO, ctx: Context) -> None:
        async def step() -> None:
            await io.logger.error("inside")

        await io.run_task("charge", step)

    async def go() -> None:
        await client.run("inner", {})
        await client.close()

    with caplog.at_level(logging.DEBUG, logger="relaykit.run"):
        asyncio.run(go())
    (line,) = _records(caplog, "relaykit.run")
    assert (line.levelno, line.__dict__["task_key"]) == (logging.ERROR, "charge")


class Counted(BaseModel):
    n: int


def test_a_worker_logs_one_info_line_per_run_end(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client("ends", database_url=db_url, poll_interval=0.05)

    @client.define_job(id="typed", version="1.0.0", trigger=relaykit.invoke_trigger(schema=Counted))
    async def typed(payload: Counted, io: IO, ctx: Context) -> int:
        return payload.n

    @client.define_job(id="boom", version="1.0.0")
    async def boom(payload: Any, io: IO, ctx: Context) -> None:
        raise RuntimeError("the ledger is locked")

    @client.define_job(id="napper", version="1.0.0")
    async def napper(payload: Any, io: IO, ctx: Context) -> None:
        await io.wait("long", days=1)

    async def go() -> dict[str, str]:
        ids = {
            "ok": await client.enqueue("typed", {"n": 1}),
            "invalid": await client.enqueue("typed", {"n": "one"}),
            "failed": await client.enqueue("boom", {}),
            "waiting": await client.enqueue("napper", {}),
        }
        await relaykit.Worker(client, exit_when_idle=True).run()
        await client.close()
        return ids

    with caplog.at_level(logging.INFO, logger="relaykit.worker"):
        ids = asyncio.run(go())

    lines = {r.__dict__["run_id"]: r for r in _records(caplog, "relaykit.worker")}
    assert ids["waiting"] not in lines  # a run that waits has not ended
    assert len(lines) == 3
    statuses = {run: r.__dict__["status"] for run, r in lines.items()}
    assert statuses == {
        ids["ok"]: "succeeded",
        ids["invalid"]: "invalid_payload",
        ids["failed"]: "failed",
    }
    failed = lines[ids["failed"]]
    assert failed.levelno == logging.INFO
    assert failed.getMessage().startswith(f"run {ids['failed']} of job boom failed in ")
    assert failed.getMessage().endswith("s: RuntimeError: the ledger is locked")
    assert failed.__dict__["job_id"] == "boom"
    assert failed.__dict__["duration"] >= 0
