"""Scenario 13: task outputs are handed back serialized-then-restored, on the first execution
and on every replay alike.

The run function collects what each task returned on the first attempt and on the replay after
a wait: both are equal values of equal types. A return annotation is honoured (a pydantic model,
a dataclass, a tuple, a datetime - also when the annotations are strings, in a ``from __future__
import annotations`` module); without one the value is plain JSON (a tuple comes back a list).
An output that is not JSON fails its task with a ``SerializationError`` naming the task key.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from relaykit import IO, Client, Context, Job, RunStatus, TaskStatus

STAMP = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def load_future_module() -> ModuleType:
    """``future_annotated_tasks.py`` beside this file, imported by path."""
    name = "relaykit_scenarios_future_annotated_tasks"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).with_name("future_annotated_tasks.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves the model's string annotations through it
    spec.loader.exec_module(module)
    return module


FUTURE = load_future_module()


class Point(BaseModel):
    x: int
    y: int


@dataclass
class Box:
    label: str
    size: int


async def point_typed() -> Point:
    return Point(x=1, y=2)


def point_untyped():  # type: ignore[no-untyped-def]  # no annotation on purpose
    return Point(x=1, y=2)


def tuple_untyped():  # type: ignore[no-untyped-def]  # no annotation on purpose
    return (1, "one")


def tuple_typed() -> tuple[int, str]:
    return (1, "one")


def stamp_typed() -> datetime:
    return STAMP


def stamp_untyped():  # type: ignore[no-untyped-def]  # no annotation on purpose
    return STAMP


def box_typed() -> Box:
    return Box("crate", 3)


def nothing() -> None:
    return None


# (key, task function, the value handed back, its type)
CASES: list[tuple[str, Callable[[], Any], Any, type]] = [
    ("point-typed", point_typed, Point(x=1, y=2), Point),
    ("point-untyped", point_untyped, {"x": 1, "y": 2}, dict),
    ("tuple-typed", tuple_typed, (1, "one"), tuple),
    ("tuple-untyped", tuple_untyped, [1, "one"], list),
    ("tuple-lambda", lambda: (1, "one"), [1, "one"], list),
    ("stamp-typed", stamp_typed, STAMP, datetime),
    ("stamp-untyped", stamp_untyped, "2024-05-01T12:30:00Z", str),
    ("box-typed", box_typed, Box("crate", 3), Box),
    ("nothing", nothing, None, type(None)),
    ("future-price", FUTURE.price, FUTURE.Money(amount=5, currency="EUR"), FUTURE.Money),
    ("future-due-date", FUTURE.due_date, STAMP, datetime),
    ("future-pair", FUTURE.pair, (1, "one"), tuple),
]


def define(client: Client, kind: str, seen: dict[tuple[int, str], Any]) -> Job:
    """Run every case, note what came back on each attempt, wait, finish."""
    if kind == "async":

        @client.define_job(id="types", version="1.0.0")
        async def types(payload: Any, io: IO, ctx: Context) -> int:
            for key, fn, _, _ in CASES:
                seen[(ctx.run.attempt, key)] = await io.run_task(key, fn)
            seen[(ctx.run.attempt, "maybe")] = await io.run_task("maybe", FUTURE.maybe_money, True)
            await io.wait("pause", minutes=1)
            return ctx.run.attempt

        return types

    @client.define_job(id="types", version="1.0.0")
    def types_sync(payload: Any, io: Any, ctx: Context) -> int:
        for key, fn, _, _ in CASES:
            seen[(ctx.run.attempt, key)] = io.run_task(key, fn)
        seen[(ctx.run.attempt, "maybe")] = io.run_task("maybe", FUTURE.maybe_money, True)
        io.wait("pause", minutes=1)
        return ctx.run.attempt

    return types_sync


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_first_execution_and_replay_see_equal_values_of_equal_types(
    client: Client, kind: str
) -> None:
    seen: dict[tuple[int, str], Any] = {}

    result = client.run_sync(define(client, kind, seen))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == 2
    for key, _, expected, expected_type in CASES:
        first, replayed = seen[(1, key)], seen[(2, key)]
        assert type(first) is expected_type, (key, first)
        assert type(replayed) is expected_type, (key, replayed)
        assert first == replayed == expected, key
    assert seen[(1, "maybe")] == seen[(2, "maybe")] == FUTURE.Money(amount=1, currency="USD")
    assert type(seen[(2, "maybe")]) is FUTURE.Money
    # The stored outputs are plain JSON whatever the annotation.
    outputs = {t.key: t.output for t in result.tasks}
    assert outputs["point-typed"] == {"x": 1, "y": 2}
    assert outputs["tuple-typed"] == [1, "one"]
    assert outputs["future-due-date"] == "2024-05-01T12:30:00Z"


class Opaque:
    """Not JSON-serializable."""


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_non_json_output_fails_its_task_naming_the_key(
    client: Client, effects: Counter[str], kind: str
) -> None:
    def make_thing() -> Opaque:
        effects["make-thing"] += 1
        return Opaque()

    if kind == "async":

        @client.define_job(id="opaque", version="1.0.0")
        async def opaque(payload: Any, io: IO, ctx: Context) -> None:
            await io.run_task("make-thing", make_thing)
            effects["after"] += 1

        job = opaque
    else:

        @client.define_job(id="opaque", version="1.0.0")
        def opaque_sync(payload: Any, io: Any, ctx: Context) -> None:
            io.run_task("make-thing", make_thing)
            effects["after"] += 1

        job = opaque_sync

    result = client.run_sync(job)

    assert result.status is RunStatus.FAILED
    assert effects == Counter({"make-thing": 1})  # not retried: retrying cannot fix it
    assert result.error is not None
    assert result.error["type"] == "TaskFailed"
    assert result.error["task"] == "make-thing"
    assert "SerializationError" in result.error["message"]
    task = {t.key: t for t in result.tasks}["make-thing"]
    assert (task.status, task.attempts, task.output) == (TaskStatus.ERRORED, 1, None)
    assert task.error is not None
    assert task.error["type"] == "SerializationError"
    assert "'make-thing'" in task.error["message"]
    assert "not JSON-serializable (Opaque)" in task.error["message"]


def test_an_output_that_contradicts_its_annotation_fails_its_task(
    client: Client, effects: Counter[str]
) -> None:
    def count() -> int:
        effects["count"] += 1
        return "many"  # type: ignore[return-value]  # the mistake under test

    @client.define_job(id="liar", version="1.0.0")
    async def liar(payload: Any, io: IO, ctx: Context) -> int:
        return int(await io.run_task("count", count))

    result = client.run_sync(liar)

    assert result.status is RunStatus.FAILED
    assert effects == Counter({"count": 1})
    task = {t.key: t for t in result.tasks}["count"]
    assert task.status is TaskStatus.ERRORED
    assert task.error is not None
    assert task.error["type"] == "SerializationError"
    message = task.error["message"]
    assert "the output of task 'count' does not match its declared return type" in message


def test_a_non_json_run_output_fails_the_run_naming_the_job(
    client: Client, effects: Counter[str]
) -> None:
    def fine() -> int:
        effects["fine"] += 1
        return 1

    @client.define_job(id="opaque-output", version="1.0.0")
    async def opaque_output(payload: Any, io: IO, ctx: Context) -> object:
        await io.run_task("fine", fine)
        return Opaque()

    result = client.run_sync(opaque_output)

    assert result.status is RunStatus.FAILED
    assert effects == Counter({"fine": 1})
    assert result.error is not None
    assert result.error["type"] == "SerializationError"
    assert "the output of job 'opaque-output'" in result.error["message"]
    assert {t.key: t.status for t in result.tasks} == {"fine": TaskStatus.COMPLETED}
