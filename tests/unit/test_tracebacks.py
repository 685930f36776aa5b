"""A run's error points at the user's code first: ``at FILE:LINE in NAME``, then Python's
traceback without relaykit's, pluggy's and asyncio's frames."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import relaykit
from relaykit import IO, Client, Context, RunStatus

HERE = str(Path(__file__).resolve())
BUG = "the user's bug"


def _line(marker: str) -> int:
    """The line of this file that ends with ``# marker``."""
    lines = Path(HERE).read_text(encoding="utf-8").splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.endswith(f"# {marker}"))


def parse_amount(text: str) -> int:
    return int(text)  # the user's bug


def _run(tmp_path: Path, job: Any, payload: Any = None, **options: Any) -> relaykit.RunResult:
    client = Client("tb", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    client.define_job(id="j", version="1.0.0", **options)(job)

    async def go() -> relaykit.RunResult:
        result = await client.run("j", payload if payload is not None else {})
        await client.close()
        return result

    return asyncio.run(go())


def _frames(traceback: str) -> list[str]:
    return [line.strip() for line in traceback.splitlines() if line.strip().startswith("File ")]


def test_a_failing_run_function_points_at_the_users_line(tmp_path: Path) -> None:
    async def job(payload: Any, io: IO, ctx: Context) -> int:
        return parse_amount("12 EUR")  # the call

    result = _run(tmp_path, job)

    assert result.status is RunStatus.FAILED and result.error is not None
    tb = result.error["traceback"] or ""
    assert tb.splitlines()[0] == f"at {HERE}:{_line(BUG)} in parse_amount"
    frames = _frames(tb)
    assert frames == [
        f'File "{HERE}", line {_line("the call")}, in job',
        f'File "{HERE}", line {_line(BUG)}, in parse_amount',
    ]
    assert tb.rstrip().endswith("ValueError: invalid literal for int() with base 10: '12 EUR'")


def test_a_failed_task_keeps_its_cause_and_each_part_starts_in_user_code(tmp_path: Path) -> None:
    async def job(payload: Any, io: IO, ctx: Context) -> int:
        retry = relaykit.Retry(limit=1)
        return int(await io.run_task("parse", parse_amount, "x", retry=retry))  # the task

    result = _run(tmp_path, job)

    assert result.error is not None and result.error["type"] == "TaskFailed"
    tb = result.error["traceback"] or ""
    assert tb.splitlines()[0] == f"at {HERE}:{_line('the task')} in job"
    assert "The above exception was the direct cause" in tb  # the task's own error is kept
    assert all("/relaykit/engine/" not in f and "pluggy" not in f for f in _frames(tb))
    assert f'File "{HERE}", line {_line(BUG)}, in parse_amount' in tb
    (task,) = result.tasks
    assert task.error is not None
    assert (task.error["traceback"] or "").startswith(f"at {HERE}:{_line(BUG)}")


class Order(BaseModel):
    qty: int


def test_an_invalid_payload_points_at_the_validation_and_keeps_its_message(
    tmp_path: Path,
) -> None:
    async def job(payload: Order, io: IO, ctx: Context) -> int:
        return payload.qty

    result = _run(tmp_path, job, {"qty": "many"}, trigger=relaykit.invoke_trigger(schema=Order))

    assert result.status is RunStatus.INVALID_PAYLOAD and result.error is not None
    tb = result.error["traceback"] or ""
    first = tb.splitlines()[0]
    assert first.startswith("at ") and "pydantic" in first, first
    assert all("/relaykit/" not in f for f in _frames(tb))
    assert "Input should be a valid integer" in tb


def test_the_headline_is_the_last_frame_outside_the_stdlib_and_a_bare_error_is_kept() -> None:
    from relaykit.engine.attempt import user_traceback

    def inner() -> None:
        raise RuntimeError("in a thread")

    try:
        asyncio.run(asyncio.wait_for(asyncio.to_thread(inner), 1))
    except RuntimeError as exc:
        tb = user_traceback(exc)
    assert tb.startswith("at ")  # ``inner`` is this file's
    try:
        json.loads("{")
    except ValueError as exc:
        tb = user_traceback(exc)
    assert tb.startswith("at ") and HERE in tb.splitlines()[0]
    assert user_traceback(TimeoutError("no frame")) == "TimeoutError: no frame\n"
