"""Scenario 20: flow control decides which runs may start, and when (``relaykit.definitions.flow``).

Limits are enforced when a worker claims runs, so a run that may not start yet stays queued
and starts later; nothing is dropped. Each test records what it observes (the most runs
active at once, the order runs started) and checks it against the limit.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from relaykit import (
    IO,
    CancelOn,
    Client,
    Concurrency,
    Context,
    Debounce,
    InvalidJobDefinition,
    RunStatus,
    Throttle,
    Worker,
    event_trigger,
)
from relaykit.testing import ManualClock


class Gauge:
    """Counts runs inside a task at once, overall and per key; keeps the maxima."""

    def __init__(self) -> None:
        self.active: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.started: list[str] = []

    async def hold(self, *keys: str, seconds: float = 0.02) -> None:
        for key in keys:
            self.active[key] += 1
            self.peak[key] = max(self.peak[key], self.active[key])
        try:
            await asyncio.sleep(seconds)  # real time: overlapping runs would be seen here
        finally:
            for key in keys:
                self.active[key] -= 1


async def _work(client: Client, concurrency: int = 10) -> None:
    await Worker(client, concurrency=concurrency, exit_when_idle=True).run()


async def _statuses(client: Client, run_ids: list[str]) -> list[RunStatus]:
    return [(await client.get_run(r)).status for r in run_ids]


def test_a_job_limit_is_never_exceeded_and_every_run_finishes(client: Client) -> None:
    gauge = Gauge()

    @client.define_job(id="limited", version="1.0.0", concurrency_limit=2)
    async def limited(payload: Any, io: IO, ctx: Context) -> int:
        await io.run_task("work", lambda: gauge.hold("all"))
        return int(payload["n"])

    async def go() -> list[RunStatus]:
        ids = [await client.enqueue(limited, {"n": n}) for n in range(12)]
        await _work(client)
        return await _statuses(client, ids)

    assert asyncio.run(go()) == [RunStatus.SUCCEEDED] * 12
    assert gauge.peak["all"] == 2  # the limit, reached but never passed


def test_per_key_and_shared_limits_combine(client: Client) -> None:
    gauge = Gauge()
    api = client.define_concurrency_limit("vendor-api", 3)

    @client.define_job(
        id="per-user", version="1.0.0", concurrency_limit=[Concurrency(key="user.id"), api]
    )
    async def per_user(payload: Any, io: IO, ctx: Context) -> None:
        user = payload["user"]["id"]
        await io.run_task("work", lambda: gauge.hold("api", f"user-{user}"))

    @client.define_job(id="reports", version="1.0.0", concurrency_limit=api)
    async def reports(payload: Any, io: IO, ctx: Context) -> None:
        await io.run_task("work", lambda: gauge.hold("api", "reports"))

    async def go() -> list[RunStatus]:
        ids = [await client.enqueue(per_user, {"user": {"id": u}}) for u in "aaabbbccd"]
        ids += [await client.enqueue(reports, {}) for _ in range(4)]
        await _work(client)
        return await _statuses(client, ids)

    assert set(asyncio.run(go())) == {RunStatus.SUCCEEDED}
    assert gauge.peak["api"] == 3  # shared by both jobs
    assert max(gauge.peak[f"user-{u}"] for u in "abcd") == 1


def test_a_waiting_run_holds_no_slot(client: Client, clock: ManualClock) -> None:
    order: list[str] = []

    @client.define_job(id="one-at-a-time", version="1.0.0", concurrency_limit=1)
    async def one(payload: Any, io: IO, ctx: Context) -> None:
        order.append(f"{payload} start")
        if payload == "sleeper":
            await io.wait("nap", seconds=3600)
        order.append(f"{payload} end")

    async def go() -> list[RunStatus]:
        sleeper = await client.enqueue(one, "sleeper")
        clock.advance(0.001)  # the sleeper is due first
        ids = [sleeper, await client.enqueue(one, "worker")]
        await _work(client)  # the sleeper waits; the other runs meanwhile
        clock.advance(3600)
        await _work(client)
        return await _statuses(client, ids)

    assert asyncio.run(go()) == [RunStatus.SUCCEEDED] * 2
    assert order == ["sleeper start", "worker start", "worker end", "sleeper start", "sleeper end"]


def test_higher_priority_runs_start_first(client: Client) -> None:
    order: list[str] = []

    for job_id, priority in (("low", 0), ("high", 10)):

        @client.define_job(id=job_id, version="1.0.0", priority=priority)
        async def job(payload: Any, io: IO, ctx: Context) -> None:
            order.append(ctx.job.id)

    async def go() -> None:
        for _ in range(3):
            await client.enqueue("low")
        for _ in range(3):
            await client.enqueue("high")
        await _work(client, concurrency=1)

    asyncio.run(go())
    assert order == ["high"] * 3 + ["low"] * 3


def test_the_same_idempotency_key_within_24_hours_returns_the_same_run(
    client: Client, clock: ManualClock
) -> None:
    executed: Counter[str] = Counter()

    @client.define_job(id="charge", version="1.0.0", idempotency_key="order.id")
    async def charge(payload: Any, io: IO, ctx: Context) -> None:
        executed[payload["order"]["id"]] += 1

    async def go() -> tuple[str, str, str, str, str, str]:
        first = await charge.invoke({"order": {"id": 7}})
        again = await charge.invoke({"order": {"id": 7}, "retry": True})
        other = await charge.invoke({"order": {"id": 8}})
        explicit = await charge.invoke({"order": {"id": 9}}, idempotency_key="k1")
        explicit_again = await client.enqueue(charge, {"order": {"id": 10}}, idempotency_key="k1")
        await _work(client)
        clock.advance(86_401)
        later = await charge.invoke({"order": {"id": 7}})
        await _work(client)
        return first, again, other, explicit, explicit_again, later

    first, again, other, explicit, explicit_again, later = asyncio.run(go())
    assert again == first and other != first and explicit_again == explicit
    assert later not in (first, other)  # the key expired after 24 hours
    assert executed == Counter({7: 2, 8: 1, 9: 1})


def test_a_run_past_its_timeout_ends_timed_out(client: Client, clock: ManualClock) -> None:
    @client.define_job(id="sleepy", version="1.0.0", timeout=60)
    async def sleepy(payload: Any, io: IO, ctx: Context) -> None:
        await io.wait("long", seconds=3600)

    @client.define_job(id="busy", version="1.0.0", timeout=0.2)
    async def busy(payload: Any, io: IO, ctx: Context) -> None:
        await io.run_task("spin", lambda: asyncio.sleep(30))

    async def go() -> tuple[Any, Any]:
        waiting = await client.enqueue(sleepy)
        await _work(client)
        clock.advance(60)  # the deadline comes before the wait's end
        await _work(client)
        return await client.get_run(waiting), await client.run(busy)

    waited, spun = asyncio.run(go())
    assert waited.status is RunStatus.TIMED_OUT
    assert "timeout of 60s" in waited.error["message"]
    assert [t.status for t in waited.tasks] == ["canceled"]
    assert spun.status is RunStatus.TIMED_OUT


def test_cancel_on_cancels_queued_and_waiting_runs_with_the_matching_value(
    client: Client,
) -> None:
    @client.define_job(
        id="reminder",
        version="1.0.0",
        trigger=event_trigger("order.placed"),
        cancel_on=CancelOn(event="order.canceled", match="order_id"),
    )
    async def reminder(payload: Any, io: IO, ctx: Context) -> str:
        await io.wait("a-day", seconds=86_400)
        return "reminded"

    async def go() -> tuple[list[RunStatus], list[RunStatus]]:
        placed = [await client.send_event("order.placed", {"order_id": n}) for n in (1, 2)]
        waiting = [r for e in placed for r in e["runs"]]
        await _work(client)  # both now wait for a day
        queued = (await client.send_event("order.placed", {"order_id": 1}))["runs"]
        await client.send_event("order.canceled", {"order_id": 1})
        return await _statuses(client, waiting), await _statuses(client, queued)

    waiting, queued = asyncio.run(go())
    assert waiting == [RunStatus.CANCELED, RunStatus.WAITING]
    assert queued == [RunStatus.CANCELED]


def test_debounce_starts_one_run_with_the_last_payload(client: Client, clock: ManualClock) -> None:
    seen: list[Any] = []

    @client.define_job(id="reindex", version="1.0.0", debounce=Debounce(seconds=5, key="doc"))
    async def reindex(payload: Any, io: IO, ctx: Context) -> None:
        seen.append(payload)

    async def go() -> set[str]:
        ids = {await client.enqueue(reindex, {"doc": "a", "rev": r}) for r in range(3)}
        ids.add(await client.enqueue(reindex, {"doc": "b", "rev": 0}))
        await _work(client)  # nothing is due for 5 seconds
        assert seen == []
        clock.advance(5)
        await _work(client)
        return ids

    assert len(asyncio.run(go())) == 2
    assert sorted(seen, key=str) == [{"doc": "a", "rev": 2}, {"doc": "b", "rev": 0}]


def test_throttle_spreads_starts_over_periods(client: Client, clock: ManualClock) -> None:
    started: list[float] = []

    @client.define_job(id="polite", version="1.0.0", throttle=Throttle(limit=2, period=60))
    async def polite(payload: Any, io: IO, ctx: Context) -> None:
        started.append(clock.now())

    async def until(count: int) -> None:
        for _ in range(500):  # a bounded wait for the worker, not a timing assertion
            if len(started) >= count:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # room for a start the throttle should have held back

    async def go() -> list[int]:
        for _ in range(5):
            await client.enqueue(polite)
        worker = Worker(client, concurrency=10)
        task = asyncio.create_task(worker.run())
        seen = []
        for expected in (2, 4, 5):
            await until(expected)
            seen.append(len(started))
            clock.advance(60)
            worker.wake()
        worker.stop()
        await task
        return seen

    assert asyncio.run(go()) == [2, 4, 5]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency_limit": 0}, "concurrency_limit must be a positive integer"),
        ({"concurrency_limit": [2, "x"]}, "concurrency_limit must be a positive integer"),
        ({"timeout": -1}, "timeout must be a positive number of seconds"),
        ({"priority": "high"}, "priority must be an integer"),
        ({"idempotency_key": "a..b"}, "is not a dotted payload path"),
        ({"debounce": 0}, "debounce must be a positive number of seconds"),
    ],
)
def test_bad_flow_options_are_errors_when_the_job_is_defined(
    client: Client, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidJobDefinition, match=message):
        client.define_job(id="bad", version="1.0.0", run=lambda p, io, ctx: None, **options)
    assert "bad" not in client.jobs


def test_bad_flow_values_name_the_field() -> None:
    with pytest.raises(InvalidJobDefinition, match=r"Concurrency\(limit=...\)"):
        Concurrency(key="user", limit=0)
    with pytest.raises(InvalidJobDefinition, match=r"Throttle\(period=...\)"):
        Throttle(limit=1, period=float("inf"))
    with pytest.raises(InvalidJobDefinition, match=r"CancelOn\(match=...\)"):
        CancelOn(event="x", match="")
