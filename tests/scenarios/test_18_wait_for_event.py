"""Scenario 18: ``io.wait_for_event`` suspends a run until a matching event arrives.

The run holds no worker slot while it waits. The first event with the awaited name whose
payload matches the filter resumes it, once, and is handed back as
``{"id", "name", "payload", "timestamp", "source"}``; other names, non-matching payloads and
later events change nothing. After the (durable) timeout the wait returns None. Either value is
memoized: a replay after a later wait sees the same. The runs start with ``client.enqueue`` and
a worker pass (they suspend), events come from ``client.send_event``, and another worker pass
resumes them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from relaykit import IO, Client, Context, Job, RunStatus, Worker
from relaykit.testing import ManualClock

T = TypeVar("T")

EVENT_BODY_KEYS = {"id", "name", "payload", "timestamp", "source"}


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _work(client: Client) -> None:
    """One worker pass: execute every runnable run, return when idle."""
    await Worker(client, exit_when_idle=True).run()


def define_approval(client: Client, effects: Counter[str], kind: str) -> Job:
    """Wait (an hour at most) for ``doc.approved`` about the payload's document."""
    if kind == "async":

        @client.define_job(id="approval", version="1.0.0")
        async def approval(payload: Any, io: IO, ctx: Context) -> Any:
            effects["attempt"] += 1
            return await io.wait_for_event(
                "approved", "doc.approved", filter={"doc": [payload["doc"]]}, timeout=3600
            )

        return approval

    @client.define_job(id="approval", version="1.0.0")
    def approval_sync(payload: Any, io: Any, ctx: Context) -> Any:
        effects["attempt"] += 1
        return io.wait_for_event(
            "approved", "doc.approved", filter={"doc": [payload["doc"]]}, timeout=3600
        )

    return approval_sync


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_matching_event_resumes_the_waiting_run_once(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    job = define_approval(client, effects, kind)

    async def go() -> None:
        run_id = await client.enqueue(job, {"doc": "d1"})
        await _work(client)
        assert (await client.get_run(run_id)).status is RunStatus.WAITING
        assert effects["attempt"] == 1

        # neither another name nor another document resumes it
        await client.send_event("doc.rejected", {"doc": "d1"})
        await client.send_event("doc.approved", {"doc": "d2"})
        await client.send_event("doc.approved", {"other": "d1"})
        await _work(client)
        assert (await client.get_run(run_id)).status is RunStatus.WAITING
        assert effects["attempt"] == 1  # not even replayed

        clock.advance(60)
        sent = await client.send_event("doc.approved", {"doc": "d1", "by": "ada"}, source="crm")
        assert sent["runs"] == []  # no job is triggered by it: it only resumes the wait
        await _work(client)
        result = await client.get_run(run_id)
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert effects["attempt"] == 2
        assert set(result.output) == EVENT_BODY_KEYS
        assert result.output == {
            "id": sent["id"],
            "name": "doc.approved",
            "payload": {"doc": "d1", "by": "ada"},
            "timestamp": sent["timestamp"],
            "source": "crm",
        }

        # a second matching event does nothing
        await client.send_event("doc.approved", {"doc": "d1", "by": "bob"})
        await _work(client)
        again = await client.get_run(run_id)
        assert again.output == result.output
        assert again.ended_at == result.ended_at
        assert effects["attempt"] == 2

    _run(go())


def test_one_event_resumes_every_run_waiting_for_it(client: Client, effects: Counter[str]) -> None:
    job = define_approval(client, effects, "async")

    async def go() -> None:
        ids = [await client.enqueue(job, {"doc": d}) for d in ("d1", "d1", "d2")]
        await _work(client)
        sent = await client.send_event("doc.approved", {"doc": "d1"})
        await _work(client)
        runs = [await client.get_run(i) for i in ids]
        assert [r.status for r in runs] == [
            RunStatus.SUCCEEDED,
            RunStatus.SUCCEEDED,
            RunStatus.WAITING,
        ]
        assert [r.output["id"] for r in runs[:2]] == [sent["id"]] * 2

    _run(go())


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_the_wait_returns_none_after_the_timeout(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    job = define_approval(client, effects, kind)
    start = clock.now()

    result = _run(client.run(job, {"doc": "d1"}))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output is None
    assert clock.now() - start >= 3600  # the ManualClock jumped through the timeout
    assert effects["attempt"] == 2  # suspended once, replayed once


def test_an_event_after_the_timeout_changes_nothing(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    job = define_approval(client, effects, "async")

    async def go() -> None:
        run_id = await client.enqueue(job, {"doc": "d1"})
        await _work(client)
        clock.advance(3600)
        await _work(client)
        ended = await client.get_run(run_id)
        assert (ended.status, ended.output) == (RunStatus.SUCCEEDED, None)
        await client.send_event("doc.approved", {"doc": "d1"})
        await _work(client)
        assert (await client.get_run(run_id)).output is None
        assert effects["attempt"] == 2

    _run(go())


@pytest.mark.parametrize("arrives", [True, False])
def test_the_value_is_memoized_across_later_replays(
    client: Client, clock: ManualClock, effects: Counter[str], arrives: bool
) -> None:
    @client.define_job(id="ping-then-wait", version="1.0.0")
    async def ping_then_wait(payload: Any, io: IO, ctx: Context) -> Any:
        effects["attempt"] += 1
        event = await io.wait_for_event("ping", "ping", timeout=30)
        await io.wait("later", seconds=10)  # a replay after the wait for the event
        return {"event": event}

    async def go() -> None:
        run_id = await client.enqueue(ping_then_wait)
        await _work(client)
        sent = None
        if arrives:
            sent = await client.send_event("ping", {"n": 1})
        else:
            clock.advance(30)
        await _work(client)  # takes the event (or the timeout), then suspends in "later"
        assert (await client.get_run(run_id)).status is RunStatus.WAITING
        second = await client.send_event("ping", {"n": 2})  # too late: changes nothing
        clock.advance(10)
        await _work(client)

        result = await client.get_run(run_id)
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert effects["attempt"] == 3
        if sent is None:
            assert result.output["event"] is None
        else:
            assert result.output["event"]["id"] == sent["id"] != second["id"]
            assert result.output["event"]["payload"] == {"n": 1}

    _run(go())


def test_without_a_timeout_the_run_waits_as_long_as_it_takes(
    client: Client, clock: ManualClock
) -> None:
    @client.define_job(id="patient", version="1.0.0")
    async def patient(payload: Any, io: IO, ctx: Context) -> Any:
        return await io.wait_for_event("go", "go")

    async def go() -> None:
        run_id = await client.enqueue(patient)
        await _work(client)
        clock.advance(365 * 86400)
        await _work(client)
        assert (await client.get_run(run_id)).status is RunStatus.WAITING
        sent = await client.send_event("go", None)
        await _work(client)
        result = await client.get_run(run_id)
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert result.output["id"] == sent["id"]
        assert result.output["payload"] is None

    _run(go())


def test_a_canceled_waiting_run_is_not_resumed(client: Client, effects: Counter[str]) -> None:
    job = define_approval(client, effects, "async")

    async def go() -> None:
        run_id = await client.enqueue(job, {"doc": "d1"})
        await _work(client)
        await client.cancel_run(run_id)
        await client.send_event("doc.approved", {"doc": "d1"})
        await _work(client)
        result = await client.get_run(run_id)
        assert result.status is RunStatus.CANCELED
        assert result.output is None
        assert effects["attempt"] == 1

    _run(go())


def test_runs_talk_through_io_send_event_and_wait_for_event(
    client: Client, effects: Counter[str]
) -> None:
    @client.define_job(id="asker", version="1.0.0")
    async def asker(payload: Any, io: IO, ctx: Context) -> Any:
        effects["asker"] += 1
        await io.send_event("ask", "question", {"reply_to": ctx.run.id})
        answer = await io.wait_for_event(
            "answer", "answer", filter={"to": [ctx.run.id]}, timeout=60
        )
        return None if answer is None else answer["payload"]["text"]

    @client.define_job(id="answerer", version="1.0.0")
    async def answerer(payload: Any, io: IO, ctx: Context) -> None:
        effects["answerer"] += 1
        asked = await io.wait_for_event("question", "question", timeout=60)
        assert asked is not None
        to = asked["payload"]["reply_to"]
        await io.send_event("reply", "answer", {"to": to, "text": "42"})

    async def go() -> None:
        answering = await client.enqueue(answerer)
        await _work(client)  # the answerer waits for a question
        asking = await client.enqueue(asker)
        for _ in range(3):
            await _work(client)
        ask, answer = await client.get_run(asking), await client.get_run(answering)
        assert (ask.status, ask.output) == (RunStatus.SUCCEEDED, "42"), ask.error
        assert answer.status is RunStatus.SUCCEEDED, answer.error
        assert effects == Counter({"asker": 2, "answerer": 2})

    _run(go())


def test_waits_inside_a_task_and_in_parallel(client: Client) -> None:
    @client.define_job(id="nested", version="1.0.0")
    async def nested(payload: Any, io: IO, ctx: Context) -> Any:
        async def inner() -> Any:
            return await io.wait_for_event("go", "go", timeout=100)

        return await io.run_task("outer", inner)

    @client.define_job(id="parallel", version="1.0.0")
    async def parallel(payload: Any, io: IO, ctx: Context) -> Any:
        a, b = await asyncio.gather(
            io.wait_for_event("a", "ev.a", timeout=100),
            io.wait_for_event("b", "ev.b", timeout=100),
        )
        return [None if a is None else a["payload"], None if b is None else b["payload"]]

    async def go() -> None:
        one, two = await client.enqueue(nested), await client.enqueue(parallel)
        await _work(client)
        go_event = await client.send_event("go", {"n": 1})
        await client.send_event("ev.b", {"b": 1})
        await _work(client)
        done = await client.get_run(one)
        assert done.status is RunStatus.SUCCEEDED, done.error
        assert done.output["id"] == go_event["id"]
        assert [t.key for t in done.tasks] == ["outer", "outer/go"]
        assert (await client.get_run(two)).status is RunStatus.WAITING  # still waits for ev.a
        await client.send_event("ev.a", {"a": 1})
        await _work(client)
        both = await client.get_run(two)
        assert (both.status, both.output) == (RunStatus.SUCCEEDED, [{"a": 1}, {"b": 1}])

    _run(go())


@pytest.mark.parametrize(
    "bad_filter",
    [
        {"doc": "d1"},  # a bare scalar is not a pattern
        {"doc": [{"$startWith": "d"}]},  # a misspelt operator
        {"size": [{"$between": [10, 1]}]},  # a reversed range
    ],
)
def test_an_invalid_filter_is_a_clear_error_naming_the_key(
    client: Client, effects: Counter[str], bad_filter: dict[str, Any]
) -> None:
    @client.define_job(id="bad-filter", version="1.0.0")
    async def bad(payload: Any, io: IO, ctx: Context) -> Any:
        effects["attempt"] += 1
        return await io.wait_for_event("approval-wait", "doc.approved", filter=bad_filter)

    result = _run(client.run(bad))

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "io.wait_for_event('approval-wait')" in result.error["message"]
    assert result.tasks == []  # nothing was waited for
    assert effects["attempt"] == 1


def test_a_negative_timeout_is_an_error_naming_the_key(client: Client) -> None:
    @client.define_job(id="bad-timeout", version="1.0.0")
    async def bad(payload: Any, io: IO, ctx: Context) -> Any:
        return await io.wait_for_event("approval-wait", "doc.approved", timeout=-1)

    result = _run(client.run(bad))

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "io.wait_for_event('approval-wait')" in result.error["message"]
    assert "timeout" in result.error["message"]
