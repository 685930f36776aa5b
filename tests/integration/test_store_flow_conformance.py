"""Flow control and child runs in the ``Store`` protocol, checked on every backend.

Concurrency and throttle groups, priority, idempotency and debounce keys, ``cancel_on`` keys
and the wake-up of a run waiting for the runs it invoked. Every test takes ``backend`` (a real
SQLite file, then a real PostgreSQL database); the concurrent ones run several stores (each
its own connection or pool) at once, which only PostgreSQL really runs in parallel.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from tests.pg import Backend

from relaykit import RunStatus
from relaykit.errors import LeaseLost
from relaykit.records import EventRecord, Routing, RunGroup, RunRecord, TaskRecord, TaskStatus
from relaykit.store import Store

NOW = 1_000.0


def _run(
    run_id: str,
    *,
    job: str = "j",
    created: float = NOW,
    due: float | None = NOW,
    status: RunStatus = RunStatus.QUEUED,
    payload: str = '{"n": 1}',
    **flow: Any,
) -> RunRecord:
    return RunRecord(
        id=run_id,
        job_id=job,
        job_version="1.0.0",
        status=status,
        payload=payload,
        created_at=created,
        next_attempt_at=due,
        **flow,
    )


async def _claim(
    store: Store,
    *,
    owner: str = "a",
    now: float = NOW + 1,
    ttl: float = 600.0,
    limit: int = 10,
    jobs: tuple[str, ...] = ("j",),
    run_id: str | None = None,
    family: bool = False,
) -> list[str]:
    runs = await store.claim_runs(
        owner=owner,
        now=now,
        lease_until=now + ttl,
        limit=limit,
        job_ids=jobs,
        run_id=run_id,
        family=family,
    )
    return [r.id for r in runs]


async def _end(
    store: Store,
    run_id: str,
    *,
    now: float = NOW + 2,
    status: RunStatus = RunStatus.SUCCEEDED,
    tasks: tuple[TaskRecord, ...] = (),
) -> None:
    """End the attempt that holds ``run_id`` now (under the epoch its claim gave it)."""
    run = await store.get_run(run_id)
    assert run is not None
    await store.end_attempt(
        run_id=run_id, epoch=run.epoch, status=status, now=now, output="null", tasks=tasks
    )


def _invoke_task(key: str = "inv", *, children: tuple[str, ...] = ()) -> TaskRecord:
    return TaskRecord(
        key=key,
        name=f"invoke {key}",
        kind="invoke",
        status=TaskStatus.WAITING,
        started_at=NOW,
        attempts=1,
        properties={"runs": list(children)},
    )


def _child(run_id: str, parent: str, *, task: str = "inv", **kw: Any) -> RunRecord:
    return _run(
        run_id, job="child", parent_run_id=parent, parent_task_key=task, root_run_id=parent, **kw
    )


ONE = (RunGroup("job:j", 1),)


# -- concurrency and throttle groups ----------------------------------------------------------


def test_a_group_with_limit_one_never_has_two_runs_claimed(backend: Backend) -> None:
    async def go(store: Store) -> list[list[str]]:
        for i in range(4):
            await store.create_run(_run(f"r{i}", due=NOW - 10 + i, groups=ONE))
        await store.create_run(_run("free", due=NOW))  # no group: never held back
        rounds = [await _claim(store), await _claim(store, owner="b")]
        await _end(store, rounds[0][0])
        rounds.append(await _claim(store, owner="b", now=NOW + 3))
        rounds.append(await _claim(store, owner="c", now=NOW + 3))
        return rounds

    assert asyncio.run(backend.run(go)) == [["r0", "free"], [], ["r1"], []]


def test_a_run_holds_its_slot_only_while_it_runs(backend: Backend) -> None:
    """Waiting (``io.wait``) frees the slot; an expired lease frees it too (the run itself is
    claimable again, and counts once more when it is)."""

    async def go(store: Store) -> list[list[str]]:
        await store.create_run(_run("a", due=NOW - 2, groups=ONE))
        await store.create_run(_run("b", due=NOW - 1, groups=ONE))
        got = [await _claim(store)]  # a
        await store.end_attempt(
            run_id="a", epoch=1, status=RunStatus.WAITING, now=NOW + 2, wake_at=NOW + 100
        )
        got.append(await _claim(store, now=NOW + 3))  # b: a waits
        got.append(await _claim(store, now=NOW + 100))  # a is due, but b runs
        await _end(store, "b", now=NOW + 101)
        got.append(await _claim(store, now=NOW + 101, ttl=10))  # a
        got.append(await _claim(store, owner="x", now=NOW + 200))  # a's lease expired
        got.append(await _claim(store, owner="y", now=NOW + 200))
        return got

    assert asyncio.run(backend.run(go)) == [["a"], ["b"], [], ["a"], ["a"], []]


def test_every_group_of_a_run_must_have_room(backend: Backend) -> None:
    shared = RunGroup("shared:api", 2)

    async def go(store: Store) -> list[str]:
        await store.create_run(_run("u1", due=NOW - 3, groups=(RunGroup("user:1", 1), shared)))
        await store.create_run(_run("u1b", due=NOW - 2, groups=(RunGroup("user:1", 1), shared)))
        await store.create_run(_run("u2", due=NOW - 1, groups=(RunGroup("user:2", 1), shared)))
        await store.create_run(_run("u3", due=NOW, groups=(RunGroup("user:3", 1), shared)))
        return await _claim(store)

    assert asyncio.run(backend.run(go)) == ["u1", "u2"]  # u1b: user 1 busy; u3: api full


def test_concurrent_claimers_together_never_exceed_a_limit(backend: Backend) -> None:
    """Four stores claim at once, round after round; each round ends what was claimed."""
    limited = (RunGroup("shared:g", 3),)

    async def go() -> list[tuple[int, int]]:
        stores = [backend.store() for _ in range(4)]
        for s in stores:
            await s.open()
        try:
            for i in range(30):
                await stores[0].create_run(_run(f"l{i:02}", due=NOW - i % 5, groups=limited))
                await stores[0].create_run(_run(f"u{i:02}", due=NOW - i % 7))
            seen: list[tuple[int, int]] = []
            now = NOW + 1
            while True:

                async def claimer(store: Store, owner: str, at: float) -> list[str]:
                    mine: list[str] = []
                    for _ in range(3):
                        mine += await _claim(store, owner=owner, now=at, limit=2)
                    return mine

                got = await asyncio.gather(
                    *(claimer(s, f"w{i}", now) for i, s in enumerate(stores))
                )
                ids = [run_id for mine in got for run_id in mine]
                if not ids:
                    return seen
                assert len(ids) == len(set(ids))
                seen.append((sum(r.startswith("l") for r in ids), len(ids)))
                for mine in got:
                    for run_id in mine:
                        await _end(stores[0], run_id, now=now)
                now += 1
        finally:
            for s in stores:
                await s.close()

    seen = asyncio.run(go())
    assert max(n for n, _ in seen) == 3  # the limit, reached and never exceeded
    assert sum(n for n, _ in seen) == 30 and sum(total for _, total in seen) == 60


def test_a_throttle_admits_limit_first_starts_per_period(backend: Backend) -> None:
    throttle = (RunGroup("throttle:j", 2, 60.0),)

    async def go(store: Store) -> list[list[str]]:
        for i in range(5):
            await store.create_run(_run(f"t{i}", due=NOW - 5 + i, groups=throttle))
        got = [await _claim(store, now=NOW + 1, ttl=5)]  # t0, t1
        await _end(store, "t0", now=NOW + 2)
        got.append(await _claim(store, now=NOW + 3))  # ending frees no start
        # t1's lease expired: it started before, so its throttle lets it through again
        got.append(await _claim(store, owner="b", now=NOW + 30))
        got.append(await _claim(store, owner="b", now=NOW + 61))  # a new period
        got.append(await _claim(store, owner="b", now=NOW + 62))
        return got

    assert asyncio.run(backend.run(go)) == [["t0", "t1"], [], ["t1"], ["t2", "t3"], []]


def test_concurrent_claimers_together_admit_at_most_a_throttles_limit(backend: Backend) -> None:
    throttle = (RunGroup("throttle:j", 5, 3600.0),)

    async def go() -> list[str]:
        stores = [backend.store() for _ in range(4)]
        for s in stores:
            await s.open()
        try:
            for i in range(20):
                await stores[0].create_run(_run(f"t{i:02}", groups=throttle))
            got = await asyncio.gather(
                *(_claim(s, owner=f"w{i}", limit=3) for i, s in enumerate(stores))
            )
            got += await asyncio.gather(
                *(_claim(s, owner=f"w{i}", limit=3, now=NOW + 5) for i, s in enumerate(stores))
            )
            return [run_id for mine in got for run_id in mine]
        finally:
            for s in stores:
                await s.close()

    ids = asyncio.run(go())
    assert len(ids) == len(set(ids)) == 5


# -- priority ---------------------------------------------------------------------------------


def test_higher_priority_runs_are_claimed_first_then_by_due_time(backend: Backend) -> None:
    async def go(store: Store) -> tuple[list[str], list[str]]:
        await store.create_run(_run("low-early", due=NOW - 50, priority=-1))
        await store.create_run(_run("mid-late", due=NOW - 1))
        await store.create_run(_run("mid-early", due=NOW - 9))
        await store.create_run(_run("high", due=NOW, priority=5))
        await store.create_run(_run("high-limited", due=NOW, priority=9, groups=ONE))
        await store.create_run(_run("not-due", due=NOW + 99, priority=99))
        first = await _claim(store, limit=3)
        rest = [run_id for _ in range(3) for run_id in await _claim(store, limit=1)]
        return first, rest

    first, rest = asyncio.run(backend.run(go))
    assert first == ["high-limited", "high", "mid-early"]
    assert rest == ["mid-late", "low-early"]


# -- idempotency and debounce -----------------------------------------------------------------


def test_an_idempotency_key_leads_to_the_same_run_until_it_expires(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        first = await store.create_run(_run("a", idempotency_key="k", idempotency_ttl=100.0))
        again = await store.create_run(
            _run("b", created=NOW + 99, idempotency_key="k", idempotency_ttl=100.0)
        )
        other_job = await store.create_run(_run("c", job="other", idempotency_key="k"))
        later = await store.create_run(
            _run("d", created=NOW + 100, idempotency_key="k", idempotency_ttl=100.0)
        )
        after = await store.create_run(_run("e", created=NOW + 150, idempotency_key="k"))
        return {
            "returned": [r.id for r in (first, again, other_job, later, after)],
            "stored": sorted(r.id for r in await store.list_runs()),
        }

    assert asyncio.run(backend.run(go)) == {
        "returned": ["a", "a", "c", "d", "d"],
        "stored": ["a", "c", "d"],
    }


def test_concurrent_triggers_with_one_idempotency_key_create_one_run(backend: Backend) -> None:
    async def go() -> tuple[list[str], list[str]]:
        stores = [backend.store() for _ in range(4)]
        for s in stores:
            await s.open()
        try:
            got = await asyncio.gather(
                *(
                    s.create_run(_run(f"r{i}{n}", idempotency_key="order-7"))
                    for n in range(5)
                    for i, s in enumerate(stores)
                )
            )
            return [r.id for r in got], [r.id for r in await stores[0].list_runs()]
        finally:
            for s in stores:
                await s.close()

    returned, stored = asyncio.run(go())
    assert len(stored) == 1
    assert set(returned) == set(stored)


def test_a_debounced_trigger_updates_the_queued_run(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        a = await store.create_run(_run("a", due=NOW + 5, debounce_key="doc-1"))
        b = await store.create_run(
            _run("b", created=NOW + 3, due=NOW + 8, payload='{"v": 2}', debounce_key="doc-1")
        )
        other = await store.create_run(_run("c", due=NOW + 5, debounce_key="doc-2"))
        claimed = await _claim(store, now=NOW + 8)
        after = await store.create_run(_run("d", created=NOW + 9, debounce_key="doc-1"))
        return {
            "returned": [r.id for r in (a, b, other, after)],
            "b": (b.payload, b.next_attempt_at),
            "claimed": claimed,
            "stored": sorted(r.id for r in await store.list_runs()),
        }

    assert asyncio.run(backend.run(go)) == {
        "returned": ["a", "a", "c", "d"],  # "a" started: the next trigger is a new run
        "b": ('{"v": 2}', NOW + 8),
        "claimed": ["c", "a"],  # by due time: "a" was pushed back
        "stored": ["a", "c", "d"],
    }


def test_concurrent_debounced_triggers_leave_one_queued_run(backend: Backend) -> None:
    async def go() -> list[str]:
        stores = [backend.store() for _ in range(4)]
        for s in stores:
            await s.open()
        try:
            await asyncio.gather(
                *(
                    s.create_run(_run(f"r{i}{n}", due=NOW + n, debounce_key="doc"))
                    for n in range(5)
                    for i, s in enumerate(stores)
                )
            )
            return [r.id for r in await stores[0].list_runs()]
        finally:
            for s in stores:
                await s.close()

    assert len(asyncio.run(go())) == 1


def test_an_idempotent_debounced_trigger_keeps_its_key_on_the_run_that_stands_for_it(
    backend: Backend,
) -> None:
    async def go(store: Store) -> list[str]:
        runs = [
            await store.create_run(_run("a", debounce_key="d", idempotency_key="k1")),
            await store.create_run(_run("b", debounce_key="d", idempotency_key="k2")),
            await store.create_run(_run("c", debounce_key="x", idempotency_key="k2")),
        ]
        return [r.id for r in runs] + [r.id for r in await store.list_runs()]

    # "b" was debounced into "a": its key k2 leads to "a" from then on
    assert asyncio.run(backend.run(go)) == ["a", "a", "a", "a"]


# -- cancel_on --------------------------------------------------------------------------------


def test_an_event_cancels_every_unfinished_run_with_its_cancel_keys_running_ones_too(
    backend: Backend,
) -> None:
    async def go(store: Store) -> dict[str, Any]:
        await store.create_run(_run("queued", cancel_key="k"))
        await store.create_run(_run("waiting", cancel_key="k", due=NOW - 2))
        await store.create_run(_run("running", cancel_key="k", due=NOW - 1))
        await store.create_run(_run("other", cancel_key="other"))
        assert await _claim(store, limit=2) == ["waiting", "running"]
        await store.end_attempt(
            run_id="waiting",
            epoch=1,
            status=RunStatus.WAITING,
            now=NOW + 1,
            wake_at=NOW + 50,
            tasks=(TaskRecord("nap", "nap", "sleep", TaskStatus.WAITING, NOW, attempts=1),),
        )
        routing = Routing([_run("new", cancel_key="k")], ["k"])
        started = await store.insert_event(
            EventRecord("e1", "order.canceled", "{}", NOW + 2),
            routing=routing,
            deliver=True,
            now=NOW + 2,
        )
        runs = {r.id: r for r in await store.list_runs()}
        # the attempt executing "running" may write nothing more: it stops at its next task
        with pytest.raises(LeaseLost):
            await store.record_task(
                run_id="running",
                epoch=1,
                task=TaskRecord("ship", "ship", "task", TaskStatus.COMPLETED, NOW + 3, attempts=1),
            )
        return {
            "started": [r.id for r in started or []],
            "statuses": {k: r.status for k, r in sorted(runs.items())},
            "ended": runs["waiting"].ended_at,
            "running lease": (runs["running"].lease_owner, runs["running"].ended_at),
            "nap": [(t.key, t.status) for t in await store.load_tasks("waiting")],
            "shipped": await store.load_tasks("running"),
        }

    assert asyncio.run(backend.run(go)) == {
        "started": ["new"],
        "statuses": {
            "new": RunStatus.QUEUED,
            "other": RunStatus.QUEUED,
            "queued": RunStatus.CANCELED,
            "running": RunStatus.CANCELED,
            "waiting": RunStatus.CANCELED,
        },
        "ended": NOW + 2,
        "running lease": (None, NOW + 2),
        "nap": [("nap", TaskStatus.CANCELED)],
        "shipped": [],
    }


def test_a_delayed_event_cancels_when_it_is_delivered(backend: Backend) -> None:
    async def go(store: Store) -> list[RunStatus]:
        await store.create_run(_run("r", cancel_key="k"))
        await store.insert_event(EventRecord("e1", "x", "{}", NOW, deliver_at=NOW + 10))
        await store.deliver_due_events(now=NOW + 5, route=lambda e: Routing((), ["k"]))
        before = (await store.get_run("r") or _run("?")).status
        await store.deliver_due_events(now=NOW + 10, route=lambda e: Routing((), ["k"]))
        return [before, (await store.get_run("r") or _run("?")).status]

    assert asyncio.run(backend.run(go)) == [RunStatus.QUEUED, RunStatus.CANCELED]


# -- child runs (io.invoke) -------------------------------------------------------------------


async def _parent_waiting_for(store: Store, *children: str) -> None:
    """Run "p" invokes ``children`` (one waiting task) and suspends until they end."""
    await store.create_run(_run("p"))
    assert await _claim(store, run_id="p") == ["p"]
    await store.record_task(
        run_id="p",
        epoch=1,
        task=_invoke_task(children=children),
        runs=[_child(c, "p") for c in children],
    )
    await store.end_attempt(run_id="p", epoch=1, status=RunStatus.WAITING, now=NOW + 1)


async def _due(store: Store, run_id: str) -> float | None:
    run = await store.get_run(run_id)
    assert run is not None
    return run.next_attempt_at


def test_a_childs_end_makes_its_waiting_parent_due(backend: Backend) -> None:
    async def go(store: Store) -> list[Any]:
        await _parent_waiting_for(store, "c1", "c2")
        seen: list[Any] = [await _due(store, "p")]
        assert sorted(await _claim(store, jobs=("child",), now=NOW + 2)) == ["c1", "c2"]
        await _end(store, "c1", now=NOW + 3)
        seen.append(await _due(store, "p"))  # c2 still runs: p keeps waiting
        await _end(store, "c2", now=NOW + 4, status=RunStatus.FAILED)
        seen.append(await _due(store, "p"))
        seen.append(await _claim(store, now=NOW + 4))
        return seen

    assert asyncio.run(backend.run(go)) == [None, None, NOW + 4, ["p"]]


def test_a_child_that_ended_during_the_parents_attempt_makes_it_due_at_once(
    backend: Backend,
) -> None:
    async def go(store: Store) -> list[Any]:
        await store.create_run(_run("p"))
        assert await _claim(store, run_id="p") == ["p"]
        await store.record_task(
            run_id="p", epoch=1, task=_invoke_task(children=("c",)), runs=[_child("c", "p")]
        )
        # the child runs and ends before the parent's attempt does
        assert await _claim(store, owner="b", jobs=("child",), now=NOW + 2) == ["c"]
        await _end(store, "c", now=NOW + 3)
        await store.end_attempt(run_id="p", epoch=1, status=RunStatus.WAITING, now=NOW + 4)
        return [await _due(store, "p"), await _claim(store, now=NOW + 4)]

    assert asyncio.run(backend.run(go)) == [NOW + 4, ["p"]]


def test_cancelling_a_child_wakes_its_parent(backend: Backend) -> None:
    async def go(store: Store) -> list[Any]:
        await _parent_waiting_for(store, "c")
        canceled = await store.cancel_run("c", now=NOW + 5)
        return [canceled and canceled.status, await _due(store, "p")]

    assert asyncio.run(backend.run(go)) == [RunStatus.CANCELED, NOW + 5]


def test_a_family_claim_takes_the_run_and_the_runs_it_invoked(backend: Backend) -> None:
    async def go(store: Store) -> list[list[str]]:
        await _parent_waiting_for(store, "c1", "c2")
        await store.create_run(_run("stranger", job="child"))
        return [
            sorted(await _claim(store, run_id="p", family=True, jobs=("j", "child"))),
            await _claim(store, run_id="p", jobs=("j", "child")),
        ]

    assert asyncio.run(backend.run(go)) == [["c1", "c2"], []]


def test_a_parent_that_ends_cancels_the_children_it_waited_for(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, RunStatus]:
        await store.create_run(_run("p"))
        assert await _claim(store, run_id="p") == ["p"]
        await store.record_task(
            run_id="p", epoch=1, task=_invoke_task(children=("c",)), runs=[_child("c", "p")]
        )
        await store.end_attempt(run_id="p", epoch=1, status=RunStatus.WAITING, now=NOW + 1)
        await store.cancel_run("p", now=NOW + 2)
        return {r.id: r.status for r in await store.list_runs()}

    assert asyncio.run(backend.run(go)) == {"p": RunStatus.CANCELED, "c": RunStatus.CANCELED}


def test_children_ending_at_once_wake_their_parent(backend: Backend) -> None:
    """Eight children end concurrently (each from its own store): whichever ends last must
    see the others ended, or the parent would wait forever."""

    async def go() -> tuple[float | None, Counter[RunStatus]]:
        kids = tuple(f"c{i}" for i in range(8))
        stores = [backend.store() for _ in range(8)]
        for s in stores:
            await s.open()
        try:
            await _parent_waiting_for(stores[0], *kids)
            for kid in kids:
                assert await _claim(stores[0], owner=kid, run_id=kid, jobs=("child",)) == [kid]
            await asyncio.gather(
                *(_end(s, kid, now=NOW + 5) for s, kid in zip(stores, kids, strict=True))
            )
            runs = await stores[0].list_runs()
            return await _due(stores[0], "p"), Counter(r.status for r in runs)
        finally:
            for s in stores:
                await s.close()

    due, statuses = asyncio.run(go())
    assert due == NOW + 5
    assert statuses == {RunStatus.SUCCEEDED: 8, RunStatus.WAITING: 1}
