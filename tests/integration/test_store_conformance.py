"""The ``Store`` protocol's semantics, checked on every backend by one parametrized fixture.

Every test that takes ``backend`` runs against a real SQLite file and a real PostgreSQL
database; the ones at the end use PostgreSQL's extras (concurrent claimers, row locks,
LISTEN/NOTIFY, connection errors). Times are plain epoch floats: the store never reads a clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from tests.pg import Backend, with_database

from relaykit import Client, Retry, RunStatus
from relaykit.errors import LeaseLost, SchemaTooNew, StoreError
from relaykit.records import (
    TOKEN_WAIT_PREFIX,
    ErrorInfo,
    EventMatch,
    EventRecord,
    EventWait,
    KvWrite,
    LogRecord,
    Routing,
    RunGroup,
    RunRecord,
    TaskAttempt,
    TaskRecord,
    TaskStatus,
    TokenRecord,
)
from relaykit.store import Store, migrations, store_from_url
from relaykit.store.postgres import PostgresStore
from relaykit.testing import ManualClock

NOW = 1_000.0

#: Every migration version this relaykit ships (the same numbers for both backends).
ALL_VERSIONS = [v for v, _, _ in migrations.load("sqlite")]
LATEST = ALL_VERSIONS[-1]


def _run(
    run_id: str,
    *,
    job: str = "j",
    created: float = NOW,
    due: float | None = NOW,
    status: RunStatus = RunStatus.QUEUED,
) -> RunRecord:
    return RunRecord(
        id=run_id,
        job_id=job,
        job_version="1.0.0",
        status=status,
        payload='{"n": 1}',
        created_at=created,
        next_attempt_at=due,
    )


def _task(
    key: str,
    *,
    status: TaskStatus = TaskStatus.COMPLETED,
    output: str | None = "1",
    started: float = 1.5,
    attempts: int = 1,
) -> TaskRecord:
    return TaskRecord(
        key=key,
        name=key,
        kind="task",
        status=status,
        started_at=started,
        output=output,
        attempts=attempts,
        ended_at=started + 0.25,
    )


def _log(key: str, message: str = "hello") -> LogRecord:
    return LogRecord(key=key, level="info", message=message, properties={"n": 1}, at=2.5)


async def _claim(
    store: Store,
    *,
    owner: str = "a",
    now: float = NOW + 1,
    ttl: float = 10.0,
    limit: int = 10,
    jobs: tuple[str, ...] = ("j",),
    run_id: str | None = None,
) -> list[RunRecord]:
    return await store.claim_runs(
        owner=owner, now=now, lease_until=now + ttl, limit=limit, job_ids=jobs, run_id=run_id
    )


async def _claimed(store: Store, run_id: str, *, owner: str = "a") -> RunRecord:
    """Create ``run_id`` due now and claim it for ``owner``."""
    await store.create_run(_run(run_id))
    [run] = await _claim(store, owner=owner, run_id=run_id)
    return run


# -- runs -------------------------------------------------------------------------------------


def test_a_run_reads_back_exactly_as_written(backend: Backend) -> None:
    error: ErrorInfo = {"type": "ValueError", "message": "bad", "task": "t", "traceback": None}
    run = RunRecord(
        id="run_full",
        job_id="j",
        job_version="2.1.0",
        status=RunStatus.FAILED,
        payload='{"email": "a@b.c"}',
        created_at=1_712_345_678.123456,
        output='{"ok": false}',
        error=error,
        started_at=1_712_345_679.5,
        ended_at=1_712_345_680.25,
        attempt=3,
        next_attempt_at=None,
        is_test=True,
        event_id="evt_1",
        event_name="user.created",
        environment="production",
    )

    async def go(store: Store) -> tuple[RunRecord | None, RunRecord | None]:
        await store.create_run(run)
        return await store.get_run("run_full"), await store.get_run("run_missing")

    assert asyncio.run(backend.run(go)) == (run, None)


def test_list_runs_newest_first_with_filters_and_limit(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, list[str]]:
        await store.create_run(_run("r1", created=1.0))
        await store.create_run(_run("r2", created=2.0, job="other"))
        await store.create_run(_run("r3", created=3.0, status=RunStatus.SUCCEEDED))
        await store.create_run(_run("r4", created=3.0))  # same time: the larger id first
        ids = {
            "all": await store.list_runs(),
            "job": await store.list_runs(job_id="j"),
            "status": await store.list_runs(status="queued"),
            "both": await store.list_runs(job_id="j", status="queued"),
            "limit": await store.list_runs(limit=2),
            "none": await store.list_runs(job_id="nope"),
        }
        return {k: [r.id for r in v] for k, v in ids.items()}

    assert asyncio.run(backend.run(go)) == {
        "all": ["r4", "r3", "r2", "r1"],
        "job": ["r4", "r3", "r1"],
        "status": ["r4", "r2", "r1"],
        "both": ["r4", "r1"],
        "limit": ["r4", "r3"],
        "none": [],
    }


def test_run_ids_with_prefix_is_an_id_range(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, list[str]]:
        for run_id in ("run_abc1", "run_abc2", "run_abd", "run_b", "ab"):
            await store.create_run(_run(run_id))
        return {
            prefix: await store.run_ids_with_prefix(prefix, limit=limit)
            for prefix, limit in [
                ("run_abc", 5),  # two share it
                ("run_ab", 2),  # the limit holds (three share it)
                ("run_abd", 5),  # a whole id is its own prefix
                ("run_abz", 5),  # none
                ("run_%", 5),  # LIKE's wildcards are plain characters
                ("", 2),  # every id starts with ""
            ]
        }

    assert asyncio.run(backend.run(go)) == {
        "run_abc": ["run_abc1", "run_abc2"],
        "run_ab": ["run_abc1", "run_abc2"],
        "run_abd": ["run_abd"],
        "run_abz": [],
        "run_%": [],
        "": ["ab", "run_abc1"],
    }


def test_runs_of_event_and_runs_containing(backend: Backend) -> None:
    def of(run_id: str, event: str | None, created: float, payload: str) -> RunRecord:
        run = _run(run_id, created=created)
        return dataclasses.replace(run, event_id=event, payload=payload)

    async def go(store: Store) -> dict[str, list[str]]:
        await store.create_run(of("a", "evt_1", 10.0, '{"email": "ada@example.com"}'))
        await store.create_run(of("b", "evt_1", 11.0, '{"email": "bob@example.com"}'))
        await store.create_run(of("c", "evt_2", 12.0, '{"note": "100%_sure"}'))
        await store.create_run(of("d", None, 13.0, '{"email": "ada@example.com"}'))
        return {
            "evt_1": [r.id for r in await store.runs_of_event("evt_1", created_from=10.0, limit=9)],
            "limit": [r.id for r in await store.runs_of_event("evt_1", created_from=10.0, limit=1)],
            "later": [r.id for r in await store.runs_of_event("evt_1", created_from=10.5, limit=9)],
            "none": [r.id for r in await store.runs_of_event("evt_9", created_from=0.0, limit=9)],
            "ada": [r.id for r in await store.runs_containing("ada@", limit=9)],
            "wild": [r.id for r in await store.runs_containing("%_", limit=9)],
            "case": [r.id for r in await store.runs_containing("ADA", limit=9)],
            "one": [r.id for r in await store.runs_containing("example", limit=1)],
        }

    assert asyncio.run(backend.run(go)) == {
        "evt_1": ["a", "b"],
        "limit": ["a"],
        "later": ["b"],
        "none": [],
        "ada": ["d", "a"],
        "wild": ["c"],  # no LIKE wildcards: the text as it is
        "case": [],
        "one": ["d"],
    }


def test_claim_takes_due_runs_only_and_leases_them(backend: Backend) -> None:
    async def go(store: Store) -> tuple[list[RunRecord], RunRecord | None]:
        await store.create_run(_run("due"))
        await store.create_run(_run("later", due=NOW + 60))
        await store.create_run(_run("waiting-due", status=RunStatus.WAITING, due=NOW - 5))
        await store.create_run(_run("waiting-forever", status=RunStatus.WAITING, due=None))
        await store.create_run(_run("done", status=RunStatus.SUCCEEDED))
        claimed = await _claim(store, now=NOW + 1, ttl=10)
        return claimed, await store.get_run("due")

    claimed, stored = asyncio.run(backend.run(go))
    assert sorted(r.id for r in claimed) == ["due", "waiting-due"]
    for run in claimed:
        assert (run.status, run.attempt, run.lease_owner) == (RunStatus.RUNNING, 1, "a")
        assert (run.lease_expires_at, run.started_at) == (NOW + 11, NOW + 1)
    assert stored == next(r for r in claimed if r.id == "due")


def test_claim_respects_job_ids_limit_and_due_order(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, list[str]]:
        for i, due in enumerate([NOW - 1, NOW - 4, NOW - 2, NOW - 3]):
            await store.create_run(_run(f"r{i}", due=due))
        await store.create_run(_run("x", job="other", due=NOW - 10))
        return {
            "no-jobs": [r.id for r in await _claim(store, jobs=())],
            "no-room": [r.id for r in await _claim(store, limit=0)],
            "first-two": [r.id for r in await _claim(store, limit=2)],
            "rest": [r.id for r in await _claim(store)],
            "other": [r.id for r in await _claim(store, jobs=("other", "j"))],
        }

    result = asyncio.run(backend.run(go))
    assert result["no-jobs"] == result["no-room"] == []
    assert sorted(result["first-two"]) == ["r1", "r3"]  # the two due earliest
    assert sorted(result["rest"]) == ["r0", "r2"]
    assert result["other"] == ["x"]


def test_claim_of_a_specific_run(backend: Backend) -> None:
    async def go(store: Store) -> tuple[list[str], list[str], list[str]]:
        await store.create_run(_run("r1"))
        await store.create_run(_run("r2"))
        await store.create_run(_run("r3", due=NOW + 60))
        one = await _claim(store, run_id="r2")
        again = await _claim(store, owner="b", run_id="r2")  # leased: not runnable
        not_due = await _claim(store, run_id="r3")
        return [r.id for r in one], [r.id for r in again], [r.id for r in not_due]

    assert asyncio.run(backend.run(go)) == (["r2"], [], [])


def test_an_expired_lease_is_taken_over_with_the_next_attempt(backend: Backend) -> None:
    async def go(store: Store) -> tuple[list[RunRecord], list[RunRecord]]:
        await _claimed(store, "r1", owner="a")  # leased until NOW + 11
        early = await _claim(store, owner="b", now=NOW + 5)
        late = await _claim(store, owner="b", now=NOW + 12)
        return early, late

    early, late = asyncio.run(backend.run(go))
    assert early == []
    [run] = late
    assert (run.attempt, run.lease_owner, run.lease_expires_at) == (2, "b", NOW + 22)
    assert run.started_at == NOW + 1  # the first attempt's start is kept


def test_renew_leases_returns_only_the_ids_still_held(backend: Backend) -> None:
    async def go(store: Store) -> tuple[set[str], set[str], list[float | None]]:
        for run_id, owner in [("r1", "a"), ("r2", "a"), ("r3", "b")]:
            await _claimed(store, run_id, owner=owner)
        # r3 is named with an epoch it does not run under (another attempt's)
        held = await store.renew_leases(
            leases={"r1": 1, "r2": 1, "r3": 2, "missing": 1}, lease_until=NOW + 99
        )
        none = await store.renew_leases(leases={}, lease_until=NOW + 99)
        runs = [await store.get_run(i) for i in ("r1", "r2", "r3")]
        return held, none, [r.lease_expires_at if r else None for r in runs]

    held, none, expiries = asyncio.run(backend.run(go))
    assert (held, none) == ({"r1", "r2"}, set())
    assert expiries == [NOW + 99, NOW + 99, NOW + 11]


def test_release_runs_hands_back_only_the_runs_held_under_the_epochs(backend: Backend) -> None:
    async def go(store: Store) -> tuple[RunRecord | None, RunRecord | None, list[RunRecord]]:
        await _claimed(store, "r1", owner="a")
        await _claimed(store, "r2", owner="b")
        # r2 is named with an epoch it does not run under: an older attempt's release
        await store.release_runs(leases={"r1": 1, "r2": 0}, now=NOW + 2)
        await store.release_runs(leases={}, now=NOW + 2)
        r1, r2 = await store.get_run("r1"), await store.get_run("r2")
        return r1, r2, await _claim(store, owner="c", now=NOW + 2)

    r1, r2, reclaimed = asyncio.run(backend.run(go))
    assert r1 is not None and r2 is not None
    assert (r1.status, r1.next_attempt_at, r1.lease_owner, r1.lease_expires_at) == (
        RunStatus.WAITING,
        NOW + 2,
        None,
        None,
    )
    assert (r2.status, r2.lease_owner) == (RunStatus.RUNNING, "b")
    assert [(r.id, r.attempt, r.lease_owner) for r in reclaimed] == [("r1", 2, "c")]


# -- ending attempts and canceling ----------------------------------------------------------


def test_end_attempt_with_a_terminal_status_writes_everything(backend: Backend) -> None:
    error: ErrorInfo = {"type": "TaskFailed", "message": "no", "task": "t2", "traceback": "tb"}

    async def go(store: Store) -> tuple[RunRecord | None, list[TaskRecord], list[LogRecord]]:
        await _claimed(store, "r1")
        await store.end_attempt(
            run_id="r1",
            epoch=1,
            status=RunStatus.FAILED,
            now=NOW + 3,
            output=None,
            error=error,
            tasks=[_task("t1"), _task("t2", status=TaskStatus.ERRORED, output=None)],
            logs=[_log("l1"), _log("l2")],
        )
        return await store.get_run("r1"), await store.load_tasks("r1"), await store.load_logs("r1")

    run, tasks, logs = asyncio.run(backend.run(go))
    assert run is not None
    assert (run.status, run.error, run.ended_at) == (RunStatus.FAILED, error, NOW + 3)
    assert (run.lease_owner, run.lease_expires_at, run.next_attempt_at) == (None, None, None)
    assert [(t.key, t.status) for t in tasks] == [
        ("t1", TaskStatus.COMPLETED),
        ("t2", TaskStatus.ERRORED),
    ]
    assert [g.key for g in logs] == ["l1", "l2"]


def test_end_attempt_waiting_keeps_the_run_until_its_wake_time(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        await _claimed(store, "timed")
        await _claimed(store, "untimed")
        wait = _task("nap", status=TaskStatus.WAITING, output=None)
        await store.end_attempt(
            run_id="timed",
            epoch=1,
            status=RunStatus.WAITING,
            now=NOW + 2,
            wake_at=NOW + 60,
            tasks=[wait],
        )
        await store.end_attempt(run_id="untimed", epoch=1, status=RunStatus.WAITING, now=NOW)
        return {
            "run": await store.get_run("timed"),
            "before": await _claim(store, owner="b", now=NOW + 59),
            "wakeup": await store.next_wakeup(job_ids=["j"]),
            "after": await _claim(store, owner="b", now=NOW + 60),
            "untimed": await _claim(store, owner="b", now=NOW + 10_000, run_id="untimed"),
        }

    got = asyncio.run(backend.run(go))
    run = got["run"]
    assert (run.status, run.next_attempt_at, run.ended_at) == (RunStatus.WAITING, NOW + 60, None)
    assert got["before"] == [] and got["untimed"] == []
    assert got["wakeup"] == NOW + 60
    assert [(r.id, r.attempt) for r in got["after"]] == [("timed", 2)]


@pytest.mark.parametrize("with_records", [False, True], ids=["alone", "with-records"])
def test_a_run_that_ends_leaves_no_task_waiting(backend: Backend, with_records: bool) -> None:
    async def go(store: Store) -> dict[str, dict[str, tuple[TaskStatus, float | None]]]:
        seen = {}
        for run_id, status in [("paused", RunStatus.WAITING), ("ended", RunStatus.FAILED)]:
            await _claimed(store, run_id)
            await store.record_task(run_id=run_id, epoch=1, task=_task("done"))
            for key in ("retrying", "parent"):
                task = _task(key, status=TaskStatus.WAITING, output=None)
                task.ended_at = None
                if key == "parent":
                    task.status = TaskStatus.RUNNING
                await store.record_task(run_id=run_id, epoch=1, task=task)
            last = [_task("nap", status=TaskStatus.WAITING, output=None)]
            await store.end_attempt(
                run_id=run_id,
                epoch=1,
                status=status,
                now=NOW + 9,
                wake_at=NOW + 60 if status is RunStatus.WAITING else None,
                tasks=last if with_records else (),
                logs=[_log("l1")] if with_records else (),
            )
            tasks = await store.load_tasks(run_id)
            seen[run_id] = {t.key: (t.status, t.ended_at) for t in tasks}
        return seen

    seen = asyncio.run(backend.run(go))
    nap = {"nap": (TaskStatus.WAITING, 1.75)} if with_records else {}
    assert seen["paused"] == {
        "done": (TaskStatus.COMPLETED, 1.75),
        "retrying": (TaskStatus.WAITING, None),
        "parent": (TaskStatus.RUNNING, None),
        **nap,
    }
    nap = {"nap": (TaskStatus.CANCELED, NOW + 9)} if with_records else {}
    assert seen["ended"] == {
        "done": (TaskStatus.COMPLETED, 1.75),
        "retrying": (TaskStatus.CANCELED, NOW + 9),
        "parent": (TaskStatus.CANCELED, NOW + 9),
        **nap,
    }


def test_end_attempt_is_fenced_and_a_lost_lease_writes_nothing(backend: Backend) -> None:
    async def end(store: Store, epoch: int, now: float) -> None:
        await store.end_attempt(
            run_id="r1",
            epoch=epoch,
            status=RunStatus.SUCCEEDED,
            now=now,
            output="1",
            tasks=[_task("t1")],
            logs=[_log("l1")],
        )

    async def go(store: Store) -> tuple[RunRecord | None, list[TaskRecord], list[LogRecord]]:
        await _claimed(store, "r1", owner="a")
        with pytest.raises(LeaseLost, match="r1"):
            await end(store, 7, NOW + 2)  # an epoch the run never had
        assert await _claim(store, owner="b", now=NOW + 20)  # a's lease expired: b takes over
        with pytest.raises(LeaseLost, match="r1"):
            await end(store, 1, NOW + 21)  # the previous attempt (epoch 1)
        return await store.get_run("r1"), await store.load_tasks("r1"), await store.load_logs("r1")

    run, tasks, logs = asyncio.run(backend.run(go))
    assert run is not None
    assert (run.status, run.lease_owner, run.output) == (RunStatus.RUNNING, "b", None)
    assert (tasks, logs) == ([], [])


@pytest.mark.parametrize("ends", [RunStatus.SUCCEEDED, RunStatus.WAITING])
def test_the_first_attempt_that_ends_records_the_code_and_later_ones_keep_it(
    backend: Backend, ends: RunStatus
) -> None:
    async def go(store: Store) -> tuple[str | None, str | None, str | None, str | None]:
        await _claimed(store, "r1")
        before = await store.get_run_code("r1")
        await store.end_attempt(
            run_id="r1", epoch=1, status=RunStatus.WAITING, now=NOW + 1, wake_at=NOW + 2,
            code="aaaaaaaaaaaa",
        )  # fmt: skip
        [again] = await _claim(store, now=NOW + 3)
        with pytest.raises(LeaseLost):  # a stale attempt's code is not written either
            await store.end_attempt(
                run_id="r1", epoch=1, status=ends, now=NOW + 4, code="stale0000000"
            )
        await store.end_attempt(run_id="r1", epoch=again.epoch, status=ends, now=NOW + 5,
                                code="bbbbbbbbbbbb")  # fmt: skip
        await store.create_run(_run("r2"))
        return (
            before,
            await store.get_run_code("r1"),
            await store.get_run_code("r2"),
            (await store.get_run_code("nope")),
        )

    before, first, unended, missing = asyncio.run(backend.run(go))
    assert (before, first, unended, missing) == (None, "aaaaaaaaaaaa", None, None)


def test_unfinished_by_job_counts_the_runs_that_have_not_ended(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, dict[str, int]]:
        await _claimed(store, "running")
        await store.create_run(_run("queued", job="j"))
        await store.create_run(_run("gone1", job="gone"))
        await store.create_run(_run("gone2", job="gone"))
        await store.create_run(_run("done", job="other"))
        [done] = await _claim(store, jobs=("other",), run_id="done")
        await store.end_attempt(run_id="done", epoch=done.epoch, status=RunStatus.FAILED, now=NOW)
        return await store.unfinished_by_job()

    assert asyncio.run(backend.run(go)) == {
        "gone": {"queued": 2},
        "j": {"queued": 1, "running": 1},
    }


def test_cancel_run_cancels_it_and_its_waiting_tasks(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        await _claimed(store, "r1")
        await store.record_task(run_id="r1", epoch=1, task=_task("done"))
        await store.end_attempt(
            run_id="r1",
            epoch=1,
            status=RunStatus.WAITING,
            now=NOW + 2,
            wake_at=NOW + 60,
            tasks=[_task("nap", status=TaskStatus.WAITING, output=None)],
        )
        canceled = await store.cancel_run("r1", now=NOW + 5)
        return {
            "canceled": canceled,
            "tasks": {t.key: (t.status, t.ended_at) for t in await store.load_tasks("r1")},
            "claim": await _claim(store, now=NOW + 100),
            "wakeup": await store.next_wakeup(job_ids=["j"]),
            "missing": await store.cancel_run("nope", now=NOW),
        }

    got = asyncio.run(backend.run(go))
    canceled = got["canceled"]
    assert (canceled.status, canceled.ended_at, canceled.next_attempt_at) == (
        RunStatus.CANCELED,
        NOW + 5,
        None,
    )
    assert got["tasks"] == {
        "done": (TaskStatus.COMPLETED, 1.75),
        "nap": (TaskStatus.CANCELED, NOW + 5),
    }
    assert (got["claim"], got["wakeup"], got["missing"]) == ([], None, None)


def test_cancel_run_stops_a_running_attempt_and_ignores_ended_runs(backend: Backend) -> None:
    async def go(store: Store) -> tuple[RunRecord | None, RunRecord | None, RunRecord | None]:
        await _claimed(store, "running")
        await _claimed(store, "ended")
        await store.end_attempt(
            run_id="ended", epoch=1, status=RunStatus.SUCCEEDED, now=NOW + 2, output="7"
        )
        before = await store.get_run("ended")
        running = await store.cancel_run("running", now=NOW + 3)
        with pytest.raises(LeaseLost):  # the worker executing it is fenced off
            await store.record_task(run_id="running", epoch=1, task=_task("t"))
        return running, before, await store.cancel_run("ended", now=NOW + 4)

    running, before, after = asyncio.run(backend.run(go))
    assert running is not None and running.status is RunStatus.CANCELED
    assert running.lease_owner is None
    assert before is not None and before.status is RunStatus.SUCCEEDED
    assert after == before  # a no-op on a run that has ended


# -- tasks, logs and effects ------------------------------------------------------------------


def test_a_task_reads_back_exactly_as_written(backend: Backend) -> None:
    error: ErrorInfo = {"type": "RuntimeError", "message": "x", "task": "p/c", "traceback": None}
    task = TaskRecord(
        key="p/c",
        name="child",
        kind="fetch",
        status=TaskStatus.WAITING,
        started_at=1_712_345_678.654321,
        params='{"url": "https://example.com"}',
        output=None,
        error=error,
        attempts=2,
        failures=2,
        ended_at=None,
        next_attempt_at=1_712_345_690.5,
        properties={"method": "GET", "tags": [1, 2]},
        icon="globe",
        parent="p",
    )

    async def go(store: Store) -> list[TaskRecord]:
        await _claimed(store, "r1")
        await store.record_task(run_id="r1", epoch=1, task=task)
        return await store.load_tasks("r1")

    assert asyncio.run(backend.run(go)) == [task]


def test_load_tasks_orders_by_start_then_key_bytewise(backend: Backend) -> None:
    keys = ["b", "a/x", "A", "a-y", "a"]

    async def go(store: Store) -> list[str]:
        await _claimed(store, "r1")
        await store.record_task(run_id="r1", epoch=1, task=_task("early", started=0.5))
        for key in keys:
            await store.record_task(run_id="r1", epoch=1, task=_task(key, started=1.0))
        return [t.key for t in await store.load_tasks("r1")]

    assert asyncio.run(backend.run(go)) == ["early", "A", "a", "a-y", "a/x", "b"]


def test_record_task_is_fenced_on_the_attempt_epoch_and_running_status(backend: Backend) -> None:
    async def go(store: Store) -> list[TaskRecord]:
        await _claimed(store, "r1", owner="a")
        await store.create_run(_run("queued"))
        with pytest.raises(LeaseLost, match="'t1'"):
            await store.record_task(run_id="r1", epoch=2, task=_task("t1"))
        with pytest.raises(LeaseLost):
            await store.record_task(run_id="queued", epoch=1, task=_task("t1"))
        with pytest.raises(LeaseLost):
            await store.record_task(run_id="missing", epoch=1, task=_task("t1"))
        return await store.load_tasks("r1") + await store.load_tasks("queued")

    assert asyncio.run(backend.run(go)) == []


def test_every_claim_starts_a_new_epoch_that_fences_out_the_earlier_attempts(
    backend: Backend,
) -> None:
    """A -> A and A -> B -> A: whoever claims, an attempt's writes stop at the next claim, even
    when the same worker claims the run again (a stalled loop let its own lease expire)."""

    async def go(store: Store) -> dict[str, Any]:
        first = await _claimed(store, "r1", owner="a")  # epoch 1
        [again] = await _claim(store, owner="a", now=NOW + 20)  # a's own lease expired: epoch 2
        with pytest.raises(LeaseLost):
            await store.record_task(run_id="r1", epoch=first.epoch, task=_task("stale"))
        await store.record_task(run_id="r1", epoch=again.epoch, task=_task("fresh"))
        [by_b] = await _claim(store, owner="b", now=NOW + 40)  # epoch 3
        [back_to_a] = await _claim(store, owner="a", now=NOW + 60)  # epoch 4, owner a again
        for epoch in (first.epoch, again.epoch, by_b.epoch):
            with pytest.raises(LeaseLost):
                await store.record_task(run_id="r1", epoch=epoch, task=_task(f"old{epoch}"))
            with pytest.raises(LeaseLost):
                await store.end_attempt(
                    run_id="r1", epoch=epoch, status=RunStatus.SUCCEEDED, now=NOW + 61
                )
        kept = await store.renew_leases(
            leases={"r1": again.epoch}, lease_until=NOW + 99
        ) | await store.renew_leases(leases={"r1": back_to_a.epoch}, lease_until=NOW + 99)
        await store.end_attempt(
            run_id="r1", epoch=back_to_a.epoch, status=RunStatus.SUCCEEDED, now=NOW + 62
        )
        run = await store.get_run("r1")
        return {
            "epochs": [first.epoch, again.epoch, by_b.epoch, back_to_a.epoch],
            "owners": [first.lease_owner, again.lease_owner, by_b.lease_owner],
            "tasks": [t.key for t in await store.load_tasks("r1")],
            "kept": kept,
            "end": (run.status, run.epoch, run.attempt) if run else None,
        }

    assert asyncio.run(backend.run(go)) == {
        "epochs": [1, 2, 3, 4],
        "owners": ["a", "a", "b"],
        "tasks": ["fresh"],
        "kept": {"r1"},
        "end": (RunStatus.SUCCEEDED, 4, 4),
    }


def test_a_claim_never_takes_a_run_its_caller_is_executing(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, list[str]]:
        await _claimed(store, "r1", owner="a")  # leased until NOW + 11
        await _claimed(store, "r2", owner="a")
        await store.create_run(_run("r3"))
        expired = NOW + 30
        mine = await store.claim_runs(
            owner="a",
            now=expired,
            lease_until=expired + 10,
            limit=10,
            job_ids=["j"],
            exclude=["r1", "r2"],
        )
        single = await store.claim_runs(
            owner="a",
            now=expired,
            lease_until=expired + 10,
            limit=10,
            job_ids=["j"],
            run_id="r1",
            exclude=["r1"],
        )
        other = await _claim(store, owner="b", now=expired)
        return {
            "a": [r.id for r in mine],
            "single": [r.id for r in single],
            "b": sorted(r.id for r in other),
        }

    # a skips the two runs it still executes although their leases expired; b takes them
    assert asyncio.run(backend.run(go)) == {"a": ["r3"], "single": [], "b": ["r1", "r2"]}


def test_replay_run_queues_a_copy_under_the_same_limits(backend: Backend) -> None:
    async def go(store: Store) -> tuple[RunRecord | None, RunRecord | None, list[str]]:
        original = _run("r1").evolve(
            priority=5,
            groups=(RunGroup("job:j", 1), RunGroup("user:7", 2, 60.0)),
            cancel_key="order-7",
            idempotency_key="once",
            is_test=True,
            event_id="e1",
            event_name="order.created",
        )
        await store.create_run(original)
        copy = await store.replay_run("r1", new_id="r2", now=NOW + 5)
        missing = await store.replay_run("nope", new_id="r3", now=NOW + 5)
        # the copy counts against the group: with r1 running, r2 waits for its slot
        await _claim(store, owner="a", now=NOW + 6, run_id="r1")
        claimed = await _claim(store, owner="b", now=NOW + 6)
        return copy, missing, [r.id for r in claimed]

    copy, missing, claimed = asyncio.run(backend.run(go))
    assert missing is None and claimed == []
    assert copy is not None
    assert (copy.id, copy.job_id, copy.payload, copy.status) == (
        "r2",
        "j",
        '{"n": 1}',
        RunStatus.QUEUED,
    )
    assert (copy.priority, copy.cancel_key, copy.is_test, copy.idempotency_key) == (
        5,
        "order-7",
        True,
        None,
    )
    assert (copy.event_id, copy.event_name, copy.created_at, copy.attempt, copy.epoch) == (
        "e1",
        "order.created",
        NOW + 5,
        0,
        0,
    )


def test_replay_run_with_an_edited_payload_leaves_the_original(backend: Backend) -> None:
    async def go(store: Store) -> list[str | None]:
        await store.create_run(_run("r1").evolve(groups=(RunGroup("job:j", 1),)))
        edited = await store.replay_run("r1", new_id="r2", now=NOW + 1, payload='{"n": 2}')
        assert await store.replay_run("r2", new_id="r3", now=NOW + 2) is not None
        runs = [await store.get_run(r) for r in ("r1", "r2", "r3")]
        return [None if edited is None else edited.payload] + [
            None if r is None else r.payload for r in runs
        ]

    # the edit goes to the copy only; a plain replay of the copy keeps the edit
    assert asyncio.run(backend.run(go)) == ['{"n": 2}', '{"n": 1}', '{"n": 2}', '{"n": 2}']


def test_record_task_updates_a_retried_task_in_place(backend: Backend) -> None:
    async def go(store: Store) -> list[TaskRecord]:
        await _claimed(store, "r1")
        first = _task("t", status=TaskStatus.WAITING, output=None, started=1.0, attempts=1)
        first.failures, first.next_attempt_at = 1, 5.0
        first.error = {"type": "E", "message": "boom", "task": "t", "traceback": None}
        await store.record_task(run_id="r1", epoch=1, task=first)
        retried = _task("t", output='"ok"', started=9.0, attempts=2)
        retried.failures = 1
        await store.record_task(run_id="r1", epoch=1, task=retried)
        return await store.load_tasks("r1")

    [task] = asyncio.run(backend.run(go))
    assert (task.status, task.output, task.attempts, task.failures) == (
        TaskStatus.COMPLETED,
        '"ok"',
        2,
        1,
    )
    assert (task.error, task.next_attempt_at, task.ended_at) == (None, None, 9.25)
    assert task.started_at == 1.0  # the first attempt's start is kept


def _boom(message: str) -> ErrorInfo:
    return {"type": "ValueError", "message": message, "task": "t", "traceback": None}


def test_a_task_keeps_the_history_of_its_attempts_and_their_busy_time(backend: Backend) -> None:
    """Attempt 1 fails and retries (written by end_attempt), attempt 2 fails and retries
    (record_task), attempt 3 succeeds: every attempt keeps its times and error, the task its
    summed busy time; a commit written twice adds no second history row."""

    async def go(store: Store) -> dict[str, Any]:
        await _claimed(store, "r1")
        first = _task("t", status=TaskStatus.WAITING, output=None, started=1.0, attempts=1)
        first.error, first.failures, first.next_attempt_at = _boom("one"), 1, 5.0
        first.busy_seconds = 0.25
        first.ended_attempt = TaskAttempt("t", 1, 1.0, 1.25, _boom("one"))
        await store.end_attempt(
            run_id="r1", epoch=1, status=RunStatus.WAITING, now=1.25, wake_at=5.0, tasks=[first]
        )
        [run] = await _claim(store, owner="a", now=NOW + 10, run_id="r1")
        second = _task("t", status=TaskStatus.WAITING, output=None, started=1.0, attempts=2)
        second.error, second.failures, second.next_attempt_at = _boom("two"), 2, 9.0
        second.busy_seconds = 0.75
        second.ended_attempt = TaskAttempt("t", 2, 5.0, 5.5, _boom("two"))
        await store.record_task(run_id="r1", epoch=run.epoch, task=second)
        done = _task("t", output='"ok"', started=1.0, attempts=3)
        done.busy_seconds = 1.0
        done.ended_attempt = TaskAttempt("t", 3, 9.0, 9.25)
        await store.record_task(run_id="r1", epoch=run.epoch, task=done)
        await store.record_task(run_id="r1", epoch=run.epoch, task=done)  # an idempotent retry
        await store.record_task(run_id="r1", epoch=run.epoch, task=_task("plain"))
        return {
            "attempts": await store.load_task_attempts("r1"),
            "tasks": {t.key: t.busy_seconds for t in await store.load_tasks("r1")},
            "other": await store.load_task_attempts("missing"),
        }

    got = asyncio.run(backend.run(go))
    assert got["attempts"] == [
        TaskAttempt("t", 1, 1.0, 1.25, _boom("one")),
        TaskAttempt("t", 2, 5.0, 5.5, _boom("two")),
        TaskAttempt("t", 3, 9.0, 9.25, None),
    ]
    # the summed busy time is kept; a task that ran no recorded attempt has none
    assert got["tasks"] == {"t": 1.0, "plain": None}
    assert got["other"] == []


def test_a_stale_attempt_writes_no_history(backend: Backend) -> None:
    """The history row is behind the task record's fence: once another claim moved the epoch
    on, neither record_task nor end_attempt of the old attempt writes one."""

    async def go(store: Store) -> list[TaskAttempt]:
        first = await _claimed(store, "r1", owner="a")
        await _claim(store, owner="b", now=NOW + 20, run_id="r1")  # a's lease expired
        task = _task("t", status=TaskStatus.WAITING, output=None, started=1.0)
        task.error, task.failures, task.next_attempt_at = _boom("late"), 1, 5.0
        task.ended_attempt = TaskAttempt("t", 1, 1.0, 1.5, _boom("late"))
        with pytest.raises(LeaseLost):
            await store.record_task(run_id="r1", epoch=first.epoch, task=task)
        with pytest.raises(LeaseLost):
            await store.end_attempt(
                run_id="r1",
                epoch=first.epoch,
                status=RunStatus.WAITING,
                now=1.5,
                wake_at=5.0,
                tasks=[task],
            )
        return await store.load_task_attempts("r1")

    assert asyncio.run(backend.run(go)) == []


def test_record_task_writes_its_effects_in_the_same_transaction(backend: Backend) -> None:
    event = EventRecord("evt-1", "order.paid", '{"id": 7}', 3.0, sent_by_run="r1")

    async def go(store: Store) -> dict[str, Any]:
        await _claimed(store, "r1")
        await store.record_task(
            run_id="r1", epoch=1, task=_task("seed"), kv=[KvWrite("run:r1", "gone", '"x"')]
        )
        await store.record_task(
            run_id="r1",
            epoch=1,
            task=_task("t1"),
            logs=[_log("l1"), _log("l2")],
            kv=[
                KvWrite("job:j", "count", "1"),
                KvWrite("job:j", "count", "2"),  # the later write of a key wins
                KvWrite("run:r1", "gone", None),
            ],
            events=[event],
        )
        return {
            "tasks": [t.key for t in await store.load_tasks("r1")],
            "logs": [g.key for g in await store.load_logs("r1")],
            "count": await store.kv_get("job:j", "count"),
            "gone": await store.kv_get("run:r1", "gone"),
            "event-again": await store.insert_event(event) is not None,
        }

    assert asyncio.run(backend.run(go)) == {
        "tasks": ["seed", "t1"],
        "logs": ["l1", "l2"],
        "count": "2",
        "gone": None,
        "event-again": False,  # it was stored with the task
    }


def test_a_fenced_off_task_writes_none_of_its_effects(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        await _claimed(store, "r1", owner="a")
        with pytest.raises(LeaseLost):
            await store.record_task(
                run_id="r1",
                epoch=2,
                task=_task("t1"),
                logs=[_log("l1")],
                kv=[KvWrite("job:j", "count", "1")],
                events=[EventRecord("evt-1", "x", "null", 3.0)],
            )
        return {
            "tasks": await store.load_tasks("r1"),
            "logs": await store.load_logs("r1"),
            "kv": await store.kv_get("job:j", "count"),
            "event-is-new": await store.insert_event(EventRecord("evt-1", "x", "null", 3.0))
            is not None,
        }

    assert asyncio.run(backend.run(go)) == {
        "tasks": [],
        "logs": [],
        "kv": None,
        "event-is-new": True,
    }


def test_a_log_line_is_written_once_per_key(backend: Backend) -> None:
    async def go(store: Store) -> list[LogRecord]:
        await _claimed(store, "r1")
        await store.record_task(run_id="r1", epoch=1, task=_task("t1"), logs=[_log("l1", "a")])
        await store.record_task(run_id="r1", epoch=1, task=_task("t2"), logs=[_log("l1", "b")])
        await store.end_attempt(
            run_id="r1", epoch=1, status=RunStatus.SUCCEEDED, now=NOW, logs=[_log("l1", "c")]
        )
        return await store.load_logs("r1")

    assert asyncio.run(backend.run(go)) == [_log("l1", "a")]


# -- events and the key-value store -----------------------------------------------------------


def test_insert_event_stores_an_id_once(backend: Backend) -> None:
    async def go(store: Store) -> tuple[bool, bool, list[str]]:
        first = await store.insert_event(EventRecord("e1", "a", "1", 1.0))
        again = await store.insert_event(EventRecord("e1", "b", "2", 2.0))
        return first is not None, again is not None, [e.payload for e in await store.list_events()]

    assert asyncio.run(backend.run(go)) == (True, False, ["1"])


def test_list_events_newest_first_exactly_as_written(backend: Backend) -> None:
    events = [
        EventRecord("e1", "a", "1", 1.5, source="github", deliver_at=9.0, sent_by_run="r1"),
        EventRecord("e2", "b", "2", 3.5),
        EventRecord("e3", "c", "3", 2.5),
    ]

    async def go(store: Store) -> tuple[list[EventRecord], list[EventRecord]]:
        for e in events:
            await store.insert_event(e)
        return await store.list_events(), await store.list_events(limit=1)

    newest, one = asyncio.run(backend.run(go))
    assert newest == [events[1], events[2], events[0]]
    assert one == [events[1]]


def test_kv_get_reads_each_scope_separately(backend: Backend) -> None:
    async def go(store: Store) -> list[str | None]:
        await _claimed(store, "r1")
        await store.record_task(
            run_id="r1",
            epoch=1,
            task=_task("t"),
            kv=[KvWrite("job:j", "k", '{"a": [1]}'), KvWrite("env:dev", "k", "2")],
        )
        return [
            await store.kv_get("job:j", "k"),
            await store.kv_get("env:dev", "k"),
            await store.kv_get("job:other", "k"),
            await store.kv_get("job:j", "missing"),
        ]

    assert asyncio.run(backend.run(go)) == ['{"a": [1]}', "2", None, None]


# -- event delivery and event waits -----------------------------------------------------------

PAID = '{"order": 7, "total": 120}'


def _event(
    event_id: str, *, name: str = "order.paid", payload: str = PAID, **kw: Any
) -> EventRecord:
    return EventRecord(event_id, name, payload, NOW, **kw)


async def _waiting(
    store: Store, run_id: str, *waits: EventWait, wake_at: float | None = None
) -> None:
    """Create ``run_id``, claim it and end its attempt waiting on ``waits``."""
    await _claimed(store, run_id)
    await store.end_attempt(
        run_id=run_id,
        epoch=1,
        status=RunStatus.WAITING,
        now=NOW,
        wake_at=wake_at,
        event_waits=waits,
    )


def _waits(backend: Backend) -> list[tuple[Any, ...]]:
    return backend.sql(
        "SELECT run_id, task_key, event_name, filter, event_id FROM event_waits "
        "ORDER BY run_id, task_key"
    )


def test_insert_event_with_deliver_stores_it_once_and_creates_its_runs_once(
    backend: Backend,
) -> None:
    async def go(store: Store) -> dict[str, Any]:
        first = await store.insert_event(
            _event("e1"), routing=Routing([_run("started")]), deliver=True, now=NOW + 1
        )
        again = await store.insert_event(
            _event("e1", payload="{}"), routing=Routing([_run("again")]), deliver=True, now=NOW + 2
        )
        return {
            "inserted": ([r.id for r in first or []], again),
            "event": await store.get_event("e1"),
            "missing": await store.get_event("nope"),
            "runs": [r.id for r in await store.list_runs()],
        }

    got = asyncio.run(backend.run(go))
    assert got["inserted"] == (["started"], None)
    assert got["event"] == _event("e1", status="delivered")
    assert got["missing"] is None
    assert got["runs"] == ["started"]
    assert backend.sql("SELECT delivered_at FROM events") == [(NOW + 1,)]


def test_a_delivered_event_resolves_the_waits_it_matches_and_makes_their_runs_due(
    backend: Backend,
) -> None:
    big = '{"total": [{"$gt": 100}]}'
    small = '{"total": [{"$lt": 100}]}'

    async def go(store: Store) -> dict[str, Any]:
        await _waiting(store, "any", EventWait("w", "order.paid", None))
        await _waiting(store, "big", EventWait("w", "order.paid", big), wake_at=NOW + 500)
        await _waiting(store, "small", EventWait("w", "order.paid", small), wake_at=NOW + 500)
        await _waiting(store, "other-name", EventWait("w", "order.shipped", None))
        await store.insert_event(_event("e1"), deliver=True, now=NOW + 5)
        return {
            "runs": {r.id: r.next_attempt_at for r in await store.list_runs()},
            "matches": {
                run_id: await store.load_event_matches(run_id)
                for run_id in ("any", "big", "small", "other-name")
            },
        }

    got = asyncio.run(backend.run(go))
    assert got["runs"] == {
        "any": NOW + 5,
        "big": NOW + 5,
        "small": NOW + 500,
        "other-name": None,
    }
    body: dict[str, Any] = {"id": "e1", "name": "order.paid", "payload": {"order": 7, "total": 120}}
    body |= {"timestamp": NOW, "source": "relaykit"}
    assert got["matches"] == {
        "any": [EventMatch("w", body)],
        "big": [EventMatch("w", body)],
        "small": [],
        "other-name": [],
    }
    assert [(w[0], w[4]) for w in _waits(backend)] == [
        ("any", "e1"),
        ("big", "e1"),
        ("other-name", None),
        ("small", None),
    ]


def test_a_wait_is_resolved_by_the_first_matching_event_only(backend: Backend) -> None:
    async def go(store: Store) -> list[EventMatch]:
        await _waiting(store, "r1", EventWait("w", "order.paid", None))
        await store.insert_event(_event("e1"), deliver=True, now=NOW + 1)
        await store.insert_event(_event("e2", payload='{"n": 2}'), deliver=True, now=NOW + 2)
        return await store.load_event_matches("r1")

    [match] = asyncio.run(backend.run(go))
    assert match.event["id"] == "e1"


def test_a_pending_event_is_routed_once_when_due(backend: Backend) -> None:
    routed: list[str] = []

    def route(event: EventRecord) -> Routing:
        routed.append(event.id)
        return Routing([_run(f"run-of-{event.id}")])

    async def go(store: Store) -> dict[str, Any]:
        await _waiting(store, "waiter", EventWait("w", "order.paid", None))
        await store.insert_event(_event("later", deliver_at=NOW + 60))
        await store.insert_event(_event("now", name="order.shipped"))  # due at its timestamp
        seen = {
            "early": await store.deliver_due_events(now=NOW + 1, route=route),
            "waiter-early": (await store.load_event_matches("waiter")),
            "pending": (await store.get_event("later")),
            "due": await store.deliver_due_events(now=NOW + 60, route=route),
            "again": await store.deliver_due_events(now=NOW + 999, route=route),
            "waiter": await store.get_run("waiter"),
            "runs": sorted(r.id for r in await store.list_runs() if r.id != "waiter"),
        }
        return seen

    got = asyncio.run(backend.run(go))
    assert got["early"] == ["now"]
    assert got["waiter-early"] == []
    assert got["pending"].status == "pending"
    assert got["due"] == ["later"]
    assert got["again"] == []
    assert routed == ["now", "later"]
    assert got["waiter"].next_attempt_at == NOW + 60
    assert got["runs"] == ["run-of-later", "run-of-now"]
    assert backend.sql("SELECT id, status, delivered_at FROM events ORDER BY id") == [
        ("later", "delivered", NOW + 60),
        ("now", "delivered", NOW + 1),
    ]


def test_deliver_due_events_takes_at_most_limit_oldest_first(backend: Backend) -> None:
    async def go(store: Store) -> list[list[str]]:
        for i, at in enumerate([NOW + 3, NOW + 1, NOW + 2]):
            await store.insert_event(_event(f"e{i}", deliver_at=at))
        first = await store.deliver_due_events(now=NOW + 10, route=lambda e: Routing(), limit=2)
        rest = await store.deliver_due_events(now=NOW + 10, route=lambda e: Routing(), limit=2)
        return [first, rest]

    assert asyncio.run(backend.run(go)) == [["e1", "e2"], ["e0"]]


def test_cancel_event_withdraws_only_a_pending_event(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        await store.insert_event(_event("delayed", deliver_at=NOW + 60))
        await store.insert_event(_event("sent"), deliver=True, now=NOW)
        got = {
            "delayed": await store.cancel_event("delayed"),
            "twice": await store.cancel_event("delayed"),
            "sent": await store.cancel_event("sent"),
            "missing": await store.cancel_event("nope"),
            "delivered": await store.deliver_due_events(now=NOW + 99, route=lambda e: Routing()),
            "wakeup": await store.next_wakeup(job_ids=["j"]),
        }
        got["statuses"] = [(e.id, e.status) for e in await store.list_events()]
        return got

    got = asyncio.run(backend.run(go))
    assert (got["delayed"], got["twice"], got["sent"], got["missing"]) == (
        True,
        False,
        False,
        False,
    )
    assert got["delivered"] == []
    assert got["wakeup"] is None
    assert sorted(got["statuses"]) == [("delayed", "canceled"), ("sent", "delivered")]


def test_end_attempt_stores_waits_while_waiting_and_drops_them_when_the_run_ends(
    backend: Backend,
) -> None:
    flt = '{"order": [7]}'

    async def go(store: Store) -> list[list[tuple[Any, ...]]]:
        await _waiting(
            store,
            "r1",
            EventWait("w1", "order.paid", flt),
            EventWait("w2", "x", None),
            wake_at=NOW + 1,
        )
        seen = [_waits(backend)]
        [_run1] = await _claim(store, owner="b", now=NOW + 1, run_id="r1")
        # the next attempt ends waiting again: the waits it had are kept, new ones added
        await store.end_attempt(
            run_id="r1",
            epoch=2,
            status=RunStatus.WAITING,
            now=NOW + 1,
            wake_at=NOW + 50,
            event_waits=[EventWait("w3", "y", None)],
        )
        seen.append(_waits(backend))
        [_run2] = await _claim(store, owner="c", now=NOW + 50, run_id="r1")
        await store.end_attempt(run_id="r1", epoch=3, status=RunStatus.SUCCEEDED, now=NOW + 51)
        seen.append(_waits(backend))
        return seen

    waiting, again, ended = asyncio.run(backend.run(go))
    assert waiting == [("r1", "w1", "order.paid", flt, None), ("r1", "w2", "x", None, None)]
    assert [w[1] for w in again] == ["w1", "w2", "w3"]
    assert ended == []


@pytest.mark.parametrize("with_records", [False, True], ids=["alone", "with-records"])
def test_a_failed_run_drops_its_waits(backend: Backend, with_records: bool) -> None:
    async def go(store: Store) -> None:
        await _waiting(store, "r1", EventWait("w", "order.paid", None), wake_at=NOW + 1)
        assert await _claim(store, owner="b", now=NOW + 1, run_id="r1")
        await store.end_attempt(
            run_id="r1",
            epoch=2,
            status=RunStatus.FAILED,
            now=NOW + 2,
            tasks=[_task("t")] if with_records else (),
            event_waits=[EventWait("ignored", "order.paid", None)],
        )
        await store.insert_event(_event("e1"), deliver=True, now=NOW + 3)

    asyncio.run(backend.run(go))
    assert _waits(backend) == []
    [(status, due)] = backend.sql("SELECT status, next_attempt_at FROM runs")
    assert (status, due) == ("failed", None)


def test_cancel_run_drops_its_waits(backend: Backend) -> None:
    async def go(store: Store) -> RunRecord | None:
        await _waiting(store, "r1", EventWait("w", "order.paid", None))
        await _waiting(store, "r2", EventWait("w", "order.paid", None))
        canceled = await store.cancel_run("r1", now=NOW + 1)
        await store.insert_event(_event("e1"), deliver=True, now=NOW + 2)
        return canceled

    canceled = asyncio.run(backend.run(go))
    assert canceled is not None and canceled.status is RunStatus.CANCELED
    assert canceled.next_attempt_at is None
    assert [(w[0], w[4]) for w in _waits(backend)] == [("r2", "e1")]


def test_a_wait_matched_while_the_run_was_running_makes_it_due_at_end_attempt(
    backend: Backend,
) -> None:
    async def go(store: Store) -> dict[str, Any]:
        await _waiting(store, "matched", EventWait("w", "order.paid", None), wake_at=NOW + 30)
        await _waiting(store, "unmatched", EventWait("w", "order.other", None), wake_at=NOW + 30)
        # a timer wakes both runs; the event arrives while their next attempts run
        running = await _claim(store, owner="b", now=NOW + 30)
        await store.insert_event(_event("e1"), deliver=True, now=NOW + 31)
        during = await store.get_run("matched")
        for run in running:
            await store.end_attempt(
                run_id=run.id,
                epoch=2,
                status=RunStatus.WAITING,
                now=NOW + 32,
                wake_at=NOW + 900,
            )
        return {
            "claimed": sorted(r.id for r in running),
            "during": during,
            "matched": await store.get_run("matched"),
            "unmatched": await store.get_run("unmatched"),
        }

    got = asyncio.run(backend.run(go))
    assert got["claimed"] == ["matched", "unmatched"]
    assert got["during"].status is RunStatus.RUNNING  # not made due while running
    assert got["matched"].next_attempt_at == NOW + 32
    assert got["unmatched"].next_attempt_at == NOW + 900


def _event_task(key: str = "w", *, output: str | None = None) -> TaskRecord:
    return TaskRecord(
        key=key,
        name=key,
        kind="event",
        status=TaskStatus.COMPLETED,
        started_at=NOW,
        output=output,
        ended_at=NOW + 40,
    )


def test_expire_event_wait_records_a_timeout_unless_an_event_matched_first(
    backend: Backend,
) -> None:
    async def go(store: Store) -> dict[str, Any]:
        seven = '{"order": [7]}'
        await _waiting(store, "late", EventWait("w", "order.paid", seven), wake_at=NOW + 40)
        await _waiting(store, "beaten", EventWait("w", "order.paid", seven))
        await _waiting(store, "quiet", EventWait("w", "order.other", None), wake_at=NOW + 40)
        await store.insert_event(_event("e1", payload='{"order": 8}'), deliver=True, now=NOW)
        assert len(await _claim(store, owner="b", now=NOW + 40)) == 2  # late and quiet
        # "late" ends up matched while it runs (after its claim): the event wins the race
        await store.insert_event(_event("e2"), deliver=True, now=NOW + 41)
        return {
            "late": await store.expire_event_wait(run_id="late", epoch=2, task=_event_task()),
            "quiet": await store.expire_event_wait(run_id="quiet", epoch=2, task=_event_task()),
            "late-tasks": await store.load_tasks("late"),
            "quiet-tasks": await store.load_tasks("quiet"),
            "late-matches": await store.load_event_matches("late"),
        }

    got = asyncio.run(backend.run(go))
    assert (got["late"], got["quiet"]) == (False, True)
    assert got["late-tasks"] == []
    assert got["quiet-tasks"] == [_event_task()]
    assert [m.event["id"] for m in got["late-matches"]] == ["e2"]
    assert [(w[0], w[4]) for w in _waits(backend)] == [("beaten", "e2"), ("late", "e2")]


def test_expire_event_wait_is_fenced(backend: Backend) -> None:
    async def go(store: Store) -> list[TaskRecord]:
        await _claimed(store, "r1")
        with pytest.raises(LeaseLost):
            await store.expire_event_wait(run_id="r1", epoch=99, task=_event_task())
        return await store.load_tasks("r1")

    assert asyncio.run(backend.run(go)) == []


def test_expire_event_wait_with_an_open_wait_is_fenced(backend: Backend) -> None:
    """A stranger's expiry meets an open (unmatched) wait: LeaseLost, not "an event won"."""

    async def go(store: Store) -> None:
        await _waiting(store, "r1", EventWait("w", "order.paid", None), wake_at=NOW + 1)
        [_r] = await _claim(store, owner="b", now=NOW + 1)
        with pytest.raises(LeaseLost):
            await store.expire_event_wait(run_id="r1", epoch=99, task=_event_task())

    asyncio.run(backend.run(go))
    assert [w[1] for w in _waits(backend)] == ["w"]


def test_record_task_of_a_completed_event_task_consumes_its_wait(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        await _waiting(store, "r1", EventWait("w", "order.paid", None), EventWait("v", "x", None))
        await store.insert_event(_event("e1"), deliver=True, now=NOW + 1)
        [_r] = await _claim(store, owner="b", now=NOW + 1)
        before = await store.load_event_matches("r1")
        waiting = _event_task("v")
        waiting.status = TaskStatus.WAITING
        await store.record_task(run_id="r1", epoch=2, task=waiting)  # not completed: kept
        await store.record_task(run_id="r1", epoch=2, task=_event_task(output='{"id": "e1"}'))
        return {"before": before, "after": await store.load_event_matches("r1")}

    got = asyncio.run(backend.run(go))
    assert [m.task_key for m in got["before"]] == ["w"]
    assert got["after"] == []
    assert [w[1] for w in _waits(backend)] == ["v"]


def test_a_fenced_off_event_task_keeps_its_wait(backend: Backend) -> None:
    async def go(store: Store) -> None:
        await _waiting(store, "r1", EventWait("w", "order.paid", None))
        await store.insert_event(_event("e1"), deliver=True, now=NOW + 1)
        with pytest.raises(LeaseLost):
            await store.record_task(run_id="r1", epoch=1, task=_event_task())

    asyncio.run(backend.run(go))
    assert [(w[1], w[4]) for w in _waits(backend)] == [("w", "e1")]


def test_pending_events_count_for_next_wakeup_and_unfinished_work(backend: Backend) -> None:
    async def go(store: Store) -> list[Any]:
        seen: list[Any] = []

        async def look(now: float) -> None:
            seen.append(await store.next_wakeup(job_ids=["j"]))
            seen.append(await store.has_unfinished_work(job_ids=["j"], now=now))

        await store.insert_event(_event("later", deliver_at=NOW + 60))
        await look(NOW)
        await look(NOW + 60)
        await store.insert_event(_event("sent"))  # pending, due at its timestamp
        await look(NOW)
        await store.deliver_due_events(now=NOW, route=lambda e: Routing())
        await look(NOW)
        seen.append(await store.next_wakeup(job_ids=[]))  # events are not any job's
        await store.cancel_event("later")
        await look(NOW + 60)
        return seen

    assert asyncio.run(backend.run(go)) == [
        NOW + 60,
        False,
        NOW + 60,
        True,
        NOW,
        True,
        NOW + 60,
        False,
        NOW + 60,
        None,
        False,
    ]


# -- wake-ups and idleness ----------------------------------------------------------------------


def test_next_wakeup_is_the_earliest_due_time_or_lease_expiry(backend: Backend) -> None:
    async def go(store: Store) -> list[float | None]:
        seen = [await store.next_wakeup(job_ids=["j"])]
        await store.create_run(_run("later", due=NOW + 500))
        await store.create_run(_run("forever", status=RunStatus.WAITING, due=None))
        await store.create_run(_run("other-job", job="other", due=NOW - 100))
        await store.create_run(_run("ended", status=RunStatus.SUCCEEDED, due=NOW - 100))
        seen.append(await store.next_wakeup(job_ids=["j"]))
        await _claimed(store, "leased")  # lease expires at NOW + 11
        seen.append(await store.next_wakeup(job_ids=["j"]))
        seen.append(await store.next_wakeup(job_ids=["j", "other"]))
        seen.append(await store.next_wakeup(job_ids=[]))
        return seen

    assert asyncio.run(backend.run(go)) == [None, NOW + 500, NOW + 11, NOW - 100, None]


def test_has_unfinished_work_counts_due_and_leased_runs(backend: Backend) -> None:
    async def go(store: Store) -> list[bool]:
        async def check(now: float = NOW) -> bool:
            return await store.has_unfinished_work(job_ids=["j"], now=now)

        seen = [await check()]
        await store.create_run(_run("later", due=NOW + 500))
        await store.create_run(_run("other-job", job="other"))
        await store.create_run(_run("ended", status=RunStatus.SUCCEEDED))
        seen += [await check(), await check(NOW + 500)]
        await store.create_run(_run("r1"))
        assert await _claim(store, limit=1, run_id="r1")
        seen.append(await check())  # running: leased by a worker, even before expiry
        await store.end_attempt(run_id="r1", epoch=1, status=RunStatus.SUCCEEDED, now=NOW)
        seen += [await check(), await store.has_unfinished_work(job_ids=[], now=NOW + 999)]
        return seen

    assert asyncio.run(backend.run(go)) == [False, False, True, True, False, False]


# -- lifecycle and migrations -----------------------------------------------------------------


def test_a_store_that_is_not_open_says_so(backend: Backend) -> None:
    async def go() -> None:
        with pytest.raises(StoreError, match="not open"):
            await backend.store().get_run("r1")

    asyncio.run(go())


def test_a_store_outlives_the_event_loop_that_opened_it(backend: Backend) -> None:
    """``client.run_sync`` and tests run each step in its own ``asyncio.run``: one store must
    keep working from loop to loop, and close cleanly from yet another."""
    store = backend.store()

    async def step(run_id: str) -> list[str]:
        await store.open()  # a no-op after the first step
        await store.create_run(_run(run_id))
        return [r.id for r in await store.list_runs()]

    assert asyncio.run(step("r1")) == ["r1"]
    assert asyncio.run(step("r2")) == ["r2", "r1"]
    asyncio.run(store.close())

    async def reopened(store: Store) -> int:
        return len(await store.list_runs())

    assert asyncio.run(backend.run(reopened)) == 2


def test_run_sync_twice_on_one_client(backend: Backend) -> None:
    client = Client("conformance", store=backend.store())

    @client.define_job(id="one", version="1.0.0")
    async def one(payload: Any, io: Any, ctx: Any) -> int:
        return int(await io.run_task("t", lambda: payload["n"]))

    outputs = [client.run_sync("one", {"n": n}).output for n in (1, 2)]
    asyncio.run(client.close())
    assert outputs == [1, 2]


def test_migrations_apply_once_and_are_idempotent(empty_database: Backend) -> None:
    async def go() -> tuple[int, list[int], int, int]:
        async with empty_database.opened() as store:
            first = await store.schema_version()
            again = await store.migrate()
        async with empty_database.opened() as store:
            return first, again, await store.schema_version(), len(await store.list_runs())

    assert asyncio.run(go()) == (LATEST, [], LATEST, 0)
    rows = empty_database.sql("SELECT version FROM schema_migrations ORDER BY version")
    assert rows == [(v,) for v in ALL_VERSIONS]
    assert {"runs", "tasks", "logs", "events", "kv"} <= set(empty_database.tables())


def test_open_without_migrating_then_migrate(empty_database: Backend) -> None:
    async def go() -> tuple[int, list[int], int]:
        store = empty_database.store()
        await store.open(migrate=False)
        try:
            return await store.schema_version(), await store.migrate(), await store.schema_version()
        finally:
            await store.close()

    assert asyncio.run(go()) == (0, ALL_VERSIONS, LATEST)


def test_concurrent_first_opens_migrate_exactly_once(empty_database: Backend) -> None:
    async def go() -> list[int]:
        stores = [empty_database.store() for _ in range(4)]
        await asyncio.gather(*(s.open() for s in stores))
        try:
            return [await s.schema_version() for s in stores]
        finally:
            for s in stores:
                await s.close()

    assert asyncio.run(go()) == [LATEST] * 4
    versions = empty_database.sql("SELECT version FROM schema_migrations ORDER BY version")
    assert versions == [(v,) for v in ALL_VERSIONS]


def test_a_schema_from_a_newer_relaykit_is_refused_and_left_unchanged(
    empty_database: Backend,
) -> None:
    async def prepare(store: Store) -> None:
        await store.create_run(_run("r1"))

    asyncio.run(empty_database.run(prepare))
    empty_database.sql("INSERT INTO schema_migrations VALUES (99, '0099_future.sql', 0)")
    before = empty_database.snapshot()

    for migrate in (True, False):
        store = empty_database.store()
        with pytest.raises(SchemaTooNew, match=r"schema version 99.*upgrade relaykit"):
            asyncio.run(store.open(migrate=migrate))
    assert empty_database.snapshot() == before


# -- the engine on each backend ---------------------------------------------------------------


def test_a_job_with_tasks_a_retry_and_a_wait_runs_to_completion(backend: Backend) -> None:
    clock = ManualClock(start=1_700_000_000.0)
    client = Client("conformance", store=backend.store(), clock=clock, lease_seconds=5)
    calls: Counter[str] = Counter()

    @client.define_job(id="pipeline", version="1.0.0")
    async def pipeline(payload: Any, io: Any, ctx: Any) -> dict[str, int]:
        async def flaky() -> int:
            calls["flaky"] += 1
            if calls["flaky"] == 1:
                raise RuntimeError("the first call fails")
            return int(payload["n"])

        def double(n: int) -> int:
            calls["double"] += 1
            return n * 2

        n = await io.run_task("flaky", flaky, retry=Retry(limit=3, randomize=False))
        await io.logger.info("fetched", n=n)
        await io.wait("cool-off", seconds=60)
        doubled = await io.run_task("double", double, n)
        await io.store.run.set("remember", "doubled", doubled)
        await io.send_event("announce", "pipeline.done", {"doubled": doubled})
        return {"doubled": doubled}

    async def go() -> dict[str, Any]:
        try:
            result = await client.run("pipeline", {"n": 21})
            store = client.store
            run = await store.get_run(result.id)
            return {
                "result": result,
                "attempts": run.attempt if run else None,
                "kv": await store.kv_get(f"run:{result.id}", "doubled"),
                "events": [(e.name, e.sent_by_run) for e in await store.list_events()],
            }
        finally:
            await client.close()

    got = asyncio.run(go())
    result = got["result"]
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == {"doubled": 42}
    assert calls == {"flaky": 2, "double": 1}  # memoized across the retry and the wait
    assert {t.key: (t.status, t.attempts) for t in result.tasks} == {
        "flaky": (TaskStatus.COMPLETED, 2),
        "cool-off": (TaskStatus.COMPLETED, 0),  # a wait is not an attempt
        "double": (TaskStatus.COMPLETED, 1),
        "remember": (TaskStatus.COMPLETED, 1),
        "announce": (TaskStatus.COMPLETED, 1),
    }
    assert [(g.message, g.properties) for g in result.logs] == [("fetched", {"n": 21})]
    assert got["attempts"] == 3  # the first, after the retry delay, after the wait
    assert got["kv"] == "42"
    assert got["events"] == [("pipeline.done", result.id)]
    assert clock.slept >= 61


# -- PostgreSQL only ------------------------------------------------------------------------


def test_store_from_url_gives_a_postgres_store(postgres_url: str) -> None:
    store = store_from_url(postgres_url.replace("postgresql://", "postgres://"))
    assert isinstance(store, PostgresStore)
    assert store.url.startswith("postgres://")


def test_the_url_never_shows_a_password() -> None:
    store = store_from_url(
        "postgresql://u:s3cret@db.example:5432/app?password=s3cret&sslmode=require"
    )
    assert store.url == "postgresql://u:***@db.example:5432/app?password=***&sslmode=require"


def test_a_missing_driver_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "relaykit.store.postgres")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(StoreError, match=r'pip install "relaykit\[postgres\]"'):
        store_from_url("postgresql://u:secret@db.example:5432/app")


def test_concurrent_claimers_never_claim_the_same_run(postgres_url: str) -> None:
    """Four workers (each its own store and pool) drain 200 due runs at once."""

    async def claimer(store: Store, owner: str) -> list[str]:
        mine: list[str] = []
        while True:
            got = await _claim(store, owner=owner, limit=7, ttl=600)
            mine += [r.id for r in got]
            if not got and not await store.list_runs(status="queued", limit=1):
                return mine

    async def go() -> list[list[str]]:
        stores = [PostgresStore.from_url(postgres_url) for _ in range(4)]
        for s in stores:
            await s.open()
        try:
            for i in range(200):
                await stores[0].create_run(_run(f"r{i:03}", due=NOW - i % 10))
            return list(await asyncio.gather(*(claimer(s, f"w{i}") for i, s in enumerate(stores))))
        finally:
            for s in stores:
                await s.close()

    per_worker = asyncio.run(go())
    claimed = [run_id for ids in per_worker for run_id in ids]
    assert len(claimed) == 200
    assert sorted(set(claimed)) == [f"r{i:03}" for i in range(200)]
    owners = {
        r[0]: r[1]
        for r in Backend("postgres", postgres_url).sql(
            "SELECT id, lease_owner FROM runs WHERE attempt = 1"
        )
    }
    assert len(owners) == 200
    for i, ids in enumerate(per_worker):
        assert all(owners[run_id] == f"w{i}" for run_id in ids)


def test_a_claim_skips_runs_locked_by_another_claimer(postgres_url: str) -> None:
    async def go() -> tuple[list[str], float]:
        async with Backend("postgres", postgres_url).opened() as store:
            for i in range(3):
                await store.create_run(_run(f"r{i}"))
            async with await psycopg.AsyncConnection.connect(postgres_url) as other:
                await other.execute("SELECT 1 FROM runs WHERE id = 'r1' FOR UPDATE")
                started = time.monotonic()
                got = await _claim(store)
                elapsed = time.monotonic() - started
                await other.rollback()
            return sorted(r.id for r in got), elapsed

    ids, elapsed = asyncio.run(go())
    assert ids == ["r0", "r2"]
    assert elapsed < 2.0  # skipped, not waited for


def test_a_task_write_racing_a_takeover_is_fenced_off(postgres_url: str) -> None:
    """The fence and the write are one step: a takeover that commits while the write waits
    for the run row makes the write fail, instead of landing after the new owner loaded the
    run's tasks."""

    async def go() -> tuple[bool, list[TaskRecord]]:
        async with Backend("postgres", postgres_url).opened() as store:
            await _claimed(store, "r1", owner="a")
            async with await psycopg.AsyncConnection.connect(postgres_url) as taker:
                await taker.execute(
                    "UPDATE runs SET lease_owner = 'b', attempt = attempt + 1, epoch = epoch + 1 "
                    "WHERE id = 'r1'"
                )
                write = asyncio.create_task(
                    store.record_task(run_id="r1", epoch=1, task=_task("t1"))
                )
                await asyncio.sleep(0.3)
                waited = not write.done()
                await taker.commit()
            with pytest.raises(LeaseLost):
                await write
            return waited, await store.load_tasks("r1")

    assert asyncio.run(go()) == (True, [])


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://postgres:s3cret@127.0.0.1:1/relaykit", "no PostgreSQL server"),
        ("postgresql://postgres@no-such-host.invalid:5432/relaykit", "unknown host"),
        ("{server}/relaykit_no_such_database", "the database does not exist"),
        ("postgresql://no_such_user@{host}/postgres", "no such user"),
    ],
    ids=["server-down", "unknown-host", "no-database", "no-user"],
)
def test_open_errors_are_one_clear_line(postgres_url: str, url: str, problem: str) -> None:
    host = postgres_url.split("://", 1)[1].split("/", 1)[0].split("@")[-1]  # host:port
    url = url.format(server=with_database(postgres_url, "").rstrip("/"), host=host)
    store = store_from_url(url)
    with pytest.raises(StoreError) as caught:
        asyncio.run(store.open())
    message = str(caught.value)
    assert message.startswith(f"cannot open database {url.replace('s3cret', '***')}: {problem}")
    assert "\n" not in message and "s3cret" not in message


def test_a_bad_option_is_refused_before_connecting() -> None:
    with pytest.raises(StoreError, match=r"invalid URI query parameter.*libpq options"):
        store_from_url("postgresql://postgres@127.0.0.1/db?colour=blue")
    with pytest.raises(StoreError, match="must be integers"):
        store_from_url("postgresql://postgres@127.0.0.1/db?pool_max_size=many")


def test_a_dropped_connection_is_a_store_error_and_the_pool_recovers(postgres_url: str) -> None:
    async def go() -> list[str]:
        seen: list[str] = []
        async with Backend("postgres", postgres_url).opened() as store:
            await store.create_run(_run("r1"))
            Backend("postgres", postgres_url).sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            for _ in range(3):
                try:
                    run = await store.get_run("r1")
                    seen.append(run.id if run else "none")
                except StoreError as exc:
                    assert "cannot be used" in str(exc)
                    seen.append("error")
        return seen

    seen = asyncio.run(go())
    assert seen[-1] == "r1" and seen.count("error") <= 1


# -- LISTEN/NOTIFY wake-ups (PostgreSQL only) -------------------------------------------------


async def _woken(listener: PostgresStore, seconds: float, action: Any = None) -> float:
    """Seconds ``wait_for_wakeup(seconds)`` took while ``action`` ran in another store."""
    started = time.monotonic()
    waiting = asyncio.create_task(listener.wait_for_wakeup(seconds))
    await asyncio.sleep(0.2)  # the listener is subscribed and waiting
    if action is not None:
        await action
    await waiting
    return time.monotonic() - started


def test_wait_for_wakeup_times_out_when_nothing_happens(postgres_url: str) -> None:
    async def go() -> float:
        async with Backend("postgres", postgres_url).opened() as store:
            assert isinstance(store, PostgresStore)
            return await _woken(store, 0.5)

    assert 0.45 <= asyncio.run(go()) < 3.0


def test_workers_are_woken_by_new_due_and_released_runs(postgres_url: str) -> None:
    """A queued run, a wait with a wake time and a released run each wake a listener in
    another process at once; a run created already leased does not."""

    async def go() -> dict[str, float]:
        pg = Backend("postgres", postgres_url)
        async with pg.opened() as listener, pg.opened() as other:
            assert isinstance(listener, PostgresStore)
            await listener.wait_for_wakeup(0)  # subscribe
            took = {"queued": await _woken(listener, 10, other.create_run(_run("r1")))}
            leased = _run("r2", status=RunStatus.RUNNING).evolve(
                lease_owner="a", attempt=1, epoch=1
            )
            leased.lease_expires_at = NOW + 10
            took["created-leased"] = await _woken(listener, 1.0, other.create_run(leased))
            await _claim(other, run_id="r1")
            wait = other.end_attempt(
                run_id="r1", epoch=1, status=RunStatus.WAITING, now=NOW, wake_at=NOW + 60
            )
            took["waiting"] = await _woken(listener, 10, wait)
            release = other.release_runs(leases={"r2": 1}, now=NOW)
            took["released"] = await _woken(listener, 10, release)
            await other.create_run(_run("r3"))  # signalled while nobody waits: kept
            started = time.monotonic()
            await listener.wait_for_wakeup(10)
            took["kept"] = time.monotonic() - started
            return took

    took = asyncio.run(go())
    assert took["created-leased"] >= 1.0
    for what in ("queued", "waiting", "released"):
        assert took[what] < 2.0, what
    assert took["kept"] < 1.0


def test_wait_for_wakeup_survives_a_dropped_listen_connection(postgres_url: str) -> None:
    async def go() -> tuple[float, float]:
        pg = Backend("postgres", postgres_url)
        async with pg.opened() as listener, pg.opened() as other:
            assert isinstance(listener, PostgresStore)
            await listener.wait_for_wakeup(0)
            pg.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
            started = time.monotonic()
            await listener.wait_for_wakeup(0.5)  # the broken connection: sleeps it out
            degraded = time.monotonic() - started
            woken = await _woken(listener, 10, other.create_run(_run("r1")))
            return degraded, woken

    degraded, woken = asyncio.run(go())
    assert degraded < 3.0
    assert woken < 2.0


# -- event delivery under concurrency (PostgreSQL only) ---------------------------------------


def test_concurrent_deliverers_deliver_each_event_exactly_once(postgres_url: str) -> None:
    """Four deliverers (each its own store and pool) route 120 due events at once."""
    routed: list[str] = []

    def route(event: EventRecord) -> Routing:
        routed.append(event.id)
        return Routing([_run(f"run-of-{event.id}")])

    async def deliverer(store: Store) -> list[str]:
        mine: list[str] = []
        while got := await store.deliver_due_events(now=NOW + 10, route=route, limit=7):
            mine += got
        return mine

    async def go() -> list[list[str]]:
        stores = [PostgresStore.from_url(postgres_url) for _ in range(4)]
        for s in stores:
            await s.open()
        try:
            await _waiting(stores[0], "waiter", EventWait("w", "tick", None))
            for i in range(120):
                await stores[0].insert_event(
                    _event(f"e{i:03}", name="tick", deliver_at=NOW + i % 5)
                )
            return list(await asyncio.gather(*(deliverer(s) for s in stores)))
        finally:
            for s in stores:
                await s.close()

    per_deliverer = asyncio.run(go())
    delivered = [e for ids in per_deliverer for e in ids]
    expected = [f"e{i:03}" for i in range(120)]
    assert sorted(delivered) == expected  # each exactly once
    assert sorted(routed) == expected  # routed once: a skipped event is never routed
    pg = Backend("postgres", postgres_url)
    assert pg.sql("SELECT count(*) FROM runs WHERE id LIKE 'run-of-%'") == [(120,)]
    assert pg.sql("SELECT DISTINCT status FROM events") == [("delivered",)]
    assert pg.sql("SELECT count(*) FROM event_waits WHERE event_id IS NOT NULL") == [(1,)]


def test_a_wait_being_resolved_by_another_event_is_not_resolved_twice(postgres_url: str) -> None:
    """A delivery that meets a wait another transaction is resolving waits for it, then
    leaves it to that transaction's event."""

    async def go() -> tuple[bool, list[EventMatch], RunRecord | None]:
        async with Backend("postgres", postgres_url).opened() as store:
            await _waiting(store, "r1", EventWait("w", "order.paid", None))
            async with await psycopg.AsyncConnection.connect(postgres_url) as other:
                await other.execute(
                    "UPDATE event_waits SET event_id = 'first', event = %s WHERE run_id = 'r1'",
                    ('{"id": "first"}',),
                )
                second = asyncio.create_task(
                    store.insert_event(_event("second"), deliver=True, now=NOW + 1)
                )
                await asyncio.sleep(0.3)
                waited = not second.done()
                await other.commit()
            await second
            return waited, await store.load_event_matches("r1"), await store.get_run("r1")

    waited, matches, run = asyncio.run(go())
    assert waited
    assert matches == [EventMatch("w", {"id": "first"})]
    assert run is not None and run.next_attempt_at is None  # "second" resolved nothing


def test_a_delivery_racing_an_attempt_end_still_makes_the_run_due(postgres_url: str) -> None:
    """An event that resolves a wait of a running run while its attempt is ending: the
    delivery waits for the run row, so either it sees the run waiting (and makes it due) or
    the attempt's end sees the resolved wait. The run is never left waiting for nothing."""

    async def go() -> tuple[bool, RunRecord | None]:
        async with Backend("postgres", postgres_url).opened() as store:
            await _waiting(store, "r1", EventWait("w", "order.paid", None), wake_at=NOW + 5)
            assert await _claim(store, owner="b", now=NOW + 5, run_id="r1")
            async with await psycopg.AsyncConnection.connect(postgres_url) as ending:
                # what end_attempt's fenced UPDATE does, not yet committed
                await ending.execute(
                    "UPDATE runs SET status = 'waiting', next_attempt_at = %s, "
                    "lease_owner = NULL, lease_expires_at = NULL WHERE id = 'r1'",
                    (NOW + 900,),
                )
                delivery = asyncio.create_task(
                    store.insert_event(_event("e1"), deliver=True, now=NOW + 6)
                )
                await asyncio.sleep(0.3)
                waited = not delivery.done()
                await ending.commit()
            await delivery
            return waited, await store.get_run("r1")

    waited, run = asyncio.run(go())
    assert waited
    assert run is not None and (run.status, run.next_attempt_at) == (RunStatus.WAITING, NOW + 6)


def test_deliveries_attempt_ends_and_cancels_in_parallel_never_deadlock(
    postgres_url: str,
) -> None:
    """Many events, each resolving waits of many runs, while those runs end attempts and are
    canceled: every statement finishes (no deadlock) and every run is left consistent."""

    async def go() -> None:
        stores = [PostgresStore.from_url(postgres_url) for _ in range(4)]
        for s in stores:
            await s.open()
        try:
            runs = [f"r{i:02}" for i in range(24)]
            for run_id in runs:
                await _waiting(
                    stores[0],
                    run_id,
                    *(EventWait(f"w{k}", f"ping{k % 3}", None) for k in range(6)),
                    wake_at=NOW + 1,
                )
            assert len(await _claim(stores[0], owner="b", now=NOW + 1, limit=100)) == 24

            async def send(store: Store, n: int) -> None:
                for i in range(12):
                    await store.insert_event(
                        _event(f"e{n}-{i}", name=f"ping{i % 3}"), deliver=True, now=NOW + 2
                    )

            async def end(store: Store) -> None:
                for run_id in runs[::2]:
                    await store.end_attempt(
                        run_id=run_id,
                        epoch=2,
                        status=RunStatus.WAITING,
                        now=NOW + 2,
                        wake_at=NOW + 900,
                        event_waits=[EventWait("late", "ping0", None)],
                    )

            async def cancel(store: Store) -> None:
                for run_id in runs[1::2]:
                    await store.cancel_run(run_id, now=NOW + 2)

            await asyncio.wait_for(
                asyncio.gather(
                    send(stores[0], 0), send(stores[1], 1), end(stores[2]), cancel(stores[3])
                ),
                30,
            )
        finally:
            for s in stores:
                await s.close()

    asyncio.run(go())
    pg = Backend("postgres", postgres_url)
    # canceled runs keep no waits; every waiting run was made due by the events
    assert pg.sql(
        "SELECT count(*) FROM event_waits w JOIN runs r ON r.id = w.run_id "
        "WHERE r.status = 'canceled'"
    ) == [(0,)]
    assert pg.sql(
        "SELECT status, next_attempt_at, count(*) FROM runs GROUP BY 1, 2 ORDER BY 1"
    ) == [
        ("canceled", None, 12),
        ("waiting", NOW + 2, 12),
    ]


# -- change marker (the realtime streams' one watcher per process) -----------------------------


def test_change_marker_moves_with_every_commit(backend: Backend) -> None:
    async def go(store: Store) -> list[str | None]:
        seen = [await store.change_marker()]
        await store.create_run(_run("run_marked"))
        seen.append(await store.change_marker())
        await _claim(store, run_id="run_marked")
        seen.append(await store.change_marker())
        return seen

    before, created, claimed = asyncio.run(backend.run(go))
    # a real value on a file or server database, and a new one after each commit
    assert before is not None
    assert len({before, created, claimed}) == 3


# -- waitpoint tokens -------------------------------------------------------------------------


def _token(run_id: str, key: str = "approve", *, expires: float | None = None) -> TokenRecord:
    return TokenRecord(
        id=f"tok_{run_id}_{key}",
        run_id=run_id,
        task_key=key,
        created_at=NOW,
        expires_at=expires,
        tags=("deploy", "prod"),
    )


def _token_wait(token: TokenRecord, key: str = "wait") -> EventWait:
    return EventWait(key, TOKEN_WAIT_PREFIX + token.id, None)


def test_a_token_is_created_once_fenced_by_the_attempt(backend: Backend) -> None:
    token = _token("r1", expires=NOW + 60)

    async def go(store: Store) -> dict[str, Any]:
        await _claimed(store, "r1")
        await store.create_token(run_id="r1", epoch=1, token=token)
        # a task re-run after a crash creates the same id again: nothing changes
        await store.create_token(run_id="r1", epoch=1, token=replace(token, created_at=NOW + 9))
        refused = None
        try:
            await store.create_token(run_id="r1", epoch=2, token=_token("r1", "stale"))
        except LeaseLost as exc:
            refused = exc
        return {
            "got": await store.get_token(token.id),
            "missing": await store.get_token("tok_nope"),
            "stale": await store.get_token("tok_r1_stale"),
            "refused": refused,
            "of_run": await store.list_tokens(run_id="r1"),
            "of_other": await store.list_tokens(run_id="r2"),
        }

    got = asyncio.run(backend.run(go))
    assert got["got"] == token
    assert (got["missing"], got["stale"]) == (None, None)
    assert isinstance(got["refused"], LeaseLost)
    assert got["of_run"] == [token]
    assert got["of_other"] == []
    assert token.status(NOW) == "waiting"
    assert token.status(NOW + 60) == "timed_out"


def test_completing_a_token_resolves_its_wait_once_and_keeps_the_first_data(
    backend: Backend,
) -> None:
    token = _token("r1")

    async def go(store: Store) -> dict[str, Any]:
        await _claimed(store, "r1")
        await store.create_token(run_id="r1", epoch=1, token=token)
        await store.end_attempt(
            run_id="r1",
            epoch=1,
            status=RunStatus.WAITING,
            now=NOW,
            wake_at=None,
            event_waits=[_token_wait(token)],
        )
        before = await store.get_run("r1")
        first = await store.complete_token(token.id, {"approved": True}, now=NOW + 5)
        after_first = await store.get_run("r1")
        second = await store.complete_token(token.id, {"approved": False}, now=NOW + 6)
        return {
            "before": before,
            "first": first,
            "second": second,
            "due": after_first,
            "matches": await store.load_event_matches("r1"),
            "unknown": await store.complete_token("tok_nope", 1, now=NOW),
        }

    got = asyncio.run(backend.run(go))
    assert got["before"].next_attempt_at is None  # waits as long as it takes
    done, completed = got["first"]
    assert completed is True
    assert (done.completed_at, done.data, done.status(NOW + 5)) == (
        NOW + 5,
        {"approved": True},
        "completed",
    )
    assert got["due"].next_attempt_at == NOW + 5
    assert got["matches"] == [EventMatch("wait", {"data": {"approved": True}})]
    again, completed_again = got["second"]
    assert completed_again is False
    assert (again.completed_at, again.data) == (NOW + 5, {"approved": True})
    assert got["unknown"] == (None, False)


def test_a_token_completed_while_the_attempt_runs_makes_its_new_wait_due_at_once(
    backend: Backend,
) -> None:
    token = _token("r1")

    async def go(store: Store) -> dict[str, Any]:
        await _claimed(store, "r1")
        await store.create_token(run_id="r1", epoch=1, token=token)
        done = await store.complete_token(token.id, "yes", now=NOW + 1)
        await store.end_attempt(
            run_id="r1",
            epoch=1,
            status=RunStatus.WAITING,
            now=NOW + 2,
            wake_at=NOW + 500,
            event_waits=[_token_wait(token)],
        )
        return {
            "done": done[1],
            "run": await store.get_run("r1"),
            "matches": await store.load_event_matches("r1"),
        }

    got = asyncio.run(backend.run(go))
    assert got["done"] is True
    assert got["run"].next_attempt_at == NOW + 2
    assert got["matches"] == [EventMatch("wait", {"data": "yes"})]


def test_a_timed_out_token_cannot_be_completed(backend: Backend) -> None:
    token = _token("r1", expires=NOW + 10)

    async def go(store: Store) -> dict[str, Any]:
        await _claimed(store, "r1")
        await store.create_token(run_id="r1", epoch=1, token=token)
        await store.end_attempt(
            run_id="r1",
            epoch=1,
            status=RunStatus.WAITING,
            now=NOW,
            wake_at=NOW + 10,
            event_waits=[_token_wait(token)],
        )
        late = await store.complete_token(token.id, "late", now=NOW + 10)
        return {"late": late, "matches": await store.load_event_matches("r1")}

    got = asyncio.run(backend.run(go))
    stored, completed = got["late"]
    assert completed is False
    assert (stored.completed_at, stored.data, stored.status(NOW + 10)) == (None, None, "timed_out")
    assert got["matches"] == []


def test_completions_racing_attempt_ends_wake_every_run_exactly_once(postgres_url: str) -> None:
    """Twenty runs each end an attempt waiting for their token while another connection
    completes it: whichever commits first, every run is left due with its wait resolved."""
    tokens = [_token(f"r{i:02}") for i in range(20)]

    async def go() -> list[bool]:
        stores = [PostgresStore.from_url(postgres_url) for _ in range(2)]
        for s in stores:
            await s.open()
        try:
            for t in tokens:
                await _claimed(stores[0], t.run_id)
                await stores[0].create_token(run_id=t.run_id, epoch=1, token=t)

            async def end(t: TokenRecord) -> None:
                await stores[0].end_attempt(
                    run_id=t.run_id,
                    epoch=1,
                    status=RunStatus.WAITING,
                    now=NOW + 1,
                    wake_at=None,
                    event_waits=[_token_wait(t)],
                )

            async def complete(t: TokenRecord) -> bool:
                return (await stores[1].complete_token(t.id, t.run_id, now=NOW + 1))[1]

            outcomes = await asyncio.wait_for(
                asyncio.gather(*(end(t) for t in tokens), *(complete(t) for t in tokens)), 30
            )
            return [o for o in outcomes if o is not None]
        finally:
            for s in stores:
                await s.close()

    assert asyncio.run(go()) == [True] * 20
    pg = Backend("postgres", postgres_url)
    assert pg.sql(
        "SELECT count(*) FROM runs WHERE status = 'waiting' AND next_attempt_at = %s", (NOW + 1,)
    ) == [(20,)]
    assert pg.sql("SELECT count(*) FROM event_waits WHERE event_id IS NULL") == [(0,)]
    assert pg.sql(
        "SELECT count(*) FROM event_waits w JOIN tokens t ON w.event_id = t.id "
        "AND w.event = t.body AND w.run_id = t.run_id"
    ) == [(20,)]


# -- retrying a run from where it stopped ----------------------------------------------------


def test_retry_run_queues_a_new_run_with_the_kept_tasks_and_leaves_the_old_one(
    backend: Backend,
) -> None:
    async def go(store: Store) -> dict[str, Any]:
        await _claimed(store, "old")
        for key in ("a", "b"):
            await store.record_task(run_id="old", epoch=1, task=_task(key))
        await store.record_task(
            run_id="old",
            epoch=1,
            task=_task("c", status=TaskStatus.ERRORED, output=None),
            kv=[KvWrite("run:old", "seen", "7")],
        )
        await store.end_attempt(run_id="old", epoch=1, status=RunStatus.FAILED, now=NOW + 2)
        old_before = await store.get_run("old")
        new = await store.retry_run("old", new_id="new", now=NOW + 5, keep=["a", "b"])
        forked = await store.retry_run(
            "old", new_id="fork", now=NOW + 6, keep=["a"], payload='{"n": 2}'
        )
        return {
            "new": new,
            "forked": forked,
            "old": await store.get_run("old"),
            "old_before": old_before,
            "old_tasks": [t.key for t in await store.load_tasks("old")],
            "new_tasks": await store.load_tasks("new"),
            "fork_tasks": [t.key for t in await store.load_tasks("fork")],
            "kv": await store.kv_get("run:new", "seen"),
            "missing": await store.retry_run("nope", new_id="x", now=NOW, keep=[]),
            "links": [await store.get_retry_of(r) for r in ("new", "fork", "old", "nope")],
        }

    got = asyncio.run(backend.run(go))
    new, forked = got["new"], got["forked"]
    assert (new.id, new.status, new.payload, new.next_attempt_at) == (
        "new",
        RunStatus.QUEUED,
        '{"n": 1}',
        NOW + 5,
    )
    assert new.attempt == got["old"].attempt == 1  # continues the count: its claim loads
    assert (forked.payload, forked.job_id) == ('{"n": 2}', "j")
    assert got["old"] == got["old_before"]
    assert got["old_tasks"] == ["a", "b", "c"]
    assert got["new_tasks"] == [_task("a"), _task("b")]
    assert got["fork_tasks"] == ["a"]
    assert got["kv"] == "7"
    assert got["missing"] is None
    assert got["links"] == ["old", "old", None, None]


# -- run tags ---------------------------------------------------------------------------------


def test_run_tags_are_a_set_fenced_for_an_attempt_and_listed_by_tag(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        await store.create_run(_run("r1", created=NOW + 1, job="a"))
        await store.create_run(_run("r2", created=NOW + 2, job="b"))
        await store.create_run(_run("r3", created=NOW + 3, job="a"))
        await store.add_run_tags("r1", ["vip", "eu"])
        await store.add_run_tags("r1", ["vip"])  # again: kept once
        await store.add_run_tags("r2", ["vip"])
        await store.add_run_tags("r3", [])
        [claimed] = await _claim(store, run_id="r3", jobs=("a",))
        await store.add_run_tags("r3", ["vip", "late"], epoch=claimed.epoch)
        refused = None
        try:
            await store.add_run_tags("r3", ["stale"], epoch=claimed.epoch + 1)
        except LeaseLost as exc:
            refused = exc

        def ids(runs: list[RunRecord]) -> list[str]:
            return [r.id for r in runs]

        return {
            "tags": await store.get_run_tags(["r1", "r2", "r3", "nope"]),
            "refused": refused,
            "vip": ids(await store.list_tagged_runs("vip")),
            "vip_a": ids(await store.list_tagged_runs("vip", job_id="a")),
            "vip_running": ids(await store.list_tagged_runs("vip", status="running")),
            "page": ids(await store.list_tagged_runs("vip", limit=1, before=(NOW + 3, "r3"))),
            "none": ids(await store.list_tagged_runs("nobody")),
        }

    got = asyncio.run(backend.run(go))
    assert got["tags"] == {"r1": ["eu", "vip"], "r2": ["vip"], "r3": ["late", "vip"]}
    assert isinstance(got["refused"], LeaseLost)
    assert got["vip"] == ["r3", "r2", "r1"]
    assert got["vip_a"] == ["r3", "r1"]
    assert got["vip_running"] == ["r3"]
    assert got["page"] == ["r2"]
    assert got["none"] == []


def test_create_run_adds_its_tags_in_the_same_write(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, list[str]]:
        await store.create_run(_run("t1"), tags=["b", "a", "b"])
        # an idempotency key leading to the first run: its tags go to the run returned
        first = replace(_run("k1"), idempotency_key="same")
        await store.create_run(first, tags=["x"])
        again = await store.create_run(replace(_run("k2"), idempotency_key="same"), tags=["y"])
        assert again.id == "k1"
        return await store.get_run_tags(["t1", "k1", "k2"])

    assert asyncio.run(backend.run(go)) == {"t1": ["a", "b"], "k1": ["x", "y"]}


def test_a_retried_run_keeps_the_tags(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, list[str]]:
        await store.create_run(_run("old"))
        await store.add_run_tags("old", ["vip"])
        await store.retry_run("old", new_id="new", now=NOW + 1, keep=[])
        return await store.get_run_tags(["old", "new"])

    assert asyncio.run(backend.run(go)) == {"old": ["vip"], "new": ["vip"]}


def test_a_delivered_event_tags_the_runs_it_starts_in_its_transaction(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, list[str]]:
        routing = Routing([_run("plain"), replace(_run("keyed"), idempotency_key="k")], tags=["t"])
        await store.insert_event(_event("e1"), routing=routing, deliver=True, now=NOW)
        return await store.get_run_tags(["plain", "keyed"])

    assert asyncio.run(backend.run(go)) == {"plain": ["t"], "keyed": ["t"]}
