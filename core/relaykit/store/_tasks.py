"""The tasks aggregate: a task's outcome with its side effects, and an attempt's records.

Every write of an attempt is fenced by its epoch: ``upsert_task`` writes the task row only
while the run is ``running`` under that epoch (on PostgreSQL it also locks the run row
``FOR SHARE`` while it writes, so a claim or cancel that wins the race makes the write match
nothing), and a write that matches nothing raises ``LeaseLost`` and rolls back everything
written with it. Its parameters are ``(run id, epoch, *task row)`` in both dialects.

A record that ends an attempt of a task's function (``TaskRecord.ended_attempt``) also writes
that attempt's ``task_attempts`` row, in the same transaction and so behind the same fence; a
commit retried after it succeeded writes it again to no effect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..errors import LeaseLost
from ..records import (
    EventMatch,
    EventRecord,
    KvWrite,
    LogRecord,
    RunRecord,
    TaskAttempt,
    TaskRecord,
    TaskStatus,
)
from ._flow import insert_run
from ._rows import attempt_from_row, attempt_params, log_params, task_from_row, task_params
from ._tx import Database, Row, Tx


def event_params(e: EventRecord) -> tuple[object, ...]:
    """``insert_event``'s parameters."""
    return (e.id, e.name, e.payload, e.source, e.timestamp, e.deliver_at, e.sent_by_run)


def log_from_row(r: Row) -> LogRecord:
    """A ``load_logs`` row as a record."""
    return LogRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5])


async def write_effects(
    tx: Tx,
    run_id: str,
    task: TaskRecord,
    logs: Sequence[LogRecord],
    kv: Sequence[KvWrite],
    events: Sequence[EventRecord],
) -> None:
    """Write a task's logs, key-value writes and events (inside the caller's transaction).

    Rows are written in key order (a stable sort keeps a key's writes in their order), so two
    transactions writing the same keys lock them in the same order and cannot deadlock."""
    if logs:
        await tx.execute_many("insert_log", [log_params(run_id, g) for g in logs])
    for w in sorted(kv, key=lambda w: (w.scope, w.name)):
        if w.value is None:
            await tx.execute("kv_delete", (w.scope, w.name))
        else:
            await tx.execute("kv_set", (w.scope, w.name, w.value, task.ended_at or task.started_at))
    if events:
        ordered = sorted(events, key=lambda e: e.id)
        await tx.execute_many("insert_event", [event_params(e) for e in ordered])


class Tasks:
    """Task records, logs and event-wait timeouts, written once over ``Database``."""

    _db: Database

    async def load_tasks(self, run_id: str) -> list[TaskRecord]:
        """All task records of a run, in one query."""

        async def work(tx: Tx) -> list[TaskRecord]:
            return [task_from_row(r) for r in await tx.fetch_all("load_tasks", (run_id,))]

        return await self._db.read(work)

    async def load_task_attempts(self, run_id: str) -> list[TaskAttempt]:
        """Every recorded attempt of the run's tasks, by task key then attempt number."""

        async def work(tx: Tx) -> list[TaskAttempt]:
            rows = await tx.fetch_all("load_task_attempts", (run_id,))
            return [attempt_from_row(r) for r in rows]

        return await self._db.read(work)

    async def load_event_matches(self, run_id: str) -> list[EventMatch]:
        """The run's event waits resolved by an event."""

        async def work(tx: Tx) -> list[EventMatch]:
            rows = await tx.fetch_all("load_event_matches", (run_id,))
            return [EventMatch(r[0], json.loads(r[1])) for r in rows]

        return await self._db.read(work)

    async def load_logs(self, run_id: str) -> list[LogRecord]:
        """All log lines of a run, oldest first."""

        async def work(tx: Tx) -> list[LogRecord]:
            return [log_from_row(r) for r in await tx.fetch_all("load_logs", (run_id,))]

        return await self._db.read(work)

    async def record_task(
        self,
        *,
        run_id: str,
        epoch: int,
        task: TaskRecord,
        logs: Sequence[LogRecord] = (),
        kv: Sequence[KvWrite] = (),
        events: Sequence[EventRecord] = (),
        runs: Sequence[RunRecord] = (),
    ) -> None:
        """Write one task outcome (and its effects, the child runs it starts and the history
        row of the attempt it ends) in exactly one transaction, fenced. The hot path — a task
        alone — is one statement, hence one implicit transaction (on SQLite a task that ends an
        attempt of its function is two statements in one short transaction)."""
        params = (run_id, epoch, *task_params(run_id, task))
        consumes_wait = task.kind in ("event", "token") and task.status is TaskStatus.COMPLETED
        ended = None if task.ended_attempt is None else attempt_params(run_id, task.ended_attempt)
        alone = not (logs or kv or events or runs or consumes_wait)
        # PostgreSQL writes the row and its attempt's history row in one statement
        together = ended is not None and self._db.supports("upsert_task_with_attempt")

        async def work(tx: Tx) -> None:
            if together:
                written = await tx.execute("upsert_task_with_attempt", (*params, *(ended or ())))
            else:
                written = await tx.execute("upsert_task", params)
            if written == 0:
                raise LeaseLost(f"run {run_id}: lease lost; task {task.key!r} was not recorded")
            if ended is not None and not together:
                await tx.execute("insert_task_attempt", ended)
            if alone:
                return
            if consumes_wait:
                await tx.execute("consume_event_wait", (run_id, task.key))
            await write_effects(tx, run_id, task, logs, kv, events)
            for run in runs:
                await insert_run(tx, run)

        single = alone and (ended is None or together)
        await self._db.write(work, transaction=not single)

    async def expire_event_wait(self, *, run_id: str, epoch: int, task: TaskRecord) -> bool:
        """Record an event wait's timeout unless an event matched it first (fenced).

        ``lease_fence`` first (PostgreSQL locks the run row ``FOR SHARE``: a delivery, which
        locks it ``FOR UPDATE`` before resolving its waits, committed already or waits for
        this one), then the wait is dropped only while no event has resolved it."""
        lost = f"run {run_id}: lease lost; task {task.key!r} was not recorded"

        async def work(tx: Tx) -> bool:
            if await tx.fetch_one("lease_fence", (run_id, epoch)) is None:
                raise LeaseLost(lost)
            if not await tx.execute("expire_event_wait", (run_id, task.key)):
                if await tx.fetch_one("event_wait_exists", (run_id, task.key)) is not None:
                    return False  # an event resolved it first
            if await tx.execute("upsert_task", (run_id, epoch, *task_params(run_id, task))):
                return True
            raise LeaseLost(lost)

        return await self._db.write(work)
