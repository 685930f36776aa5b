"""SqliteStore on a real file: migrations, fencing, claiming, write counts."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from relaykit import Client
from relaykit.errors import LeaseLost, SchemaTooNew, StoreCorrupt
from relaykit.records import RunRecord, RunStatus, TaskRecord, TaskStatus
from relaykit.store import migrations
from relaykit.store.sqlite import SqliteStore


def _run(run_id: str, *, now: float = 1000.0, job: str = "j") -> RunRecord:
    return RunRecord(
        id=run_id,
        job_id=job,
        job_version="1.0.0",
        status=RunStatus.QUEUED,
        payload="null",
        created_at=now,
        next_attempt_at=now,
    )


def _task(key: str) -> TaskRecord:
    return TaskRecord(
        key=key, name=key, kind="task", status=TaskStatus.COMPLETED, started_at=1.0, output="1"
    )


async def _opened(path: Path, sync: str = "normal") -> SqliteStore:
    store = SqliteStore(str(path), synchronous=sync)
    await store.open()
    return store


def test_migrations_apply_once_and_are_idempotent(tmp_path: Path) -> None:
    async def go() -> None:
        store = await _opened(tmp_path / "db.sqlite")
        # The newest version shipped (not a number kept by hand: every new migration moves it).
        assert await store.schema_version() == max(v for v, _, _ in migrations.load("sqlite"))
        assert await store.migrate() == []
        await store.close()

    asyncio.run(go())


def test_wal_and_synchronous_settings(tmp_path: Path) -> None:
    async def go(sync: str) -> tuple[str, int]:
        store = await _opened(tmp_path / f"{sync}.sqlite", sync)
        mode = await store._io.read(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
        level = await store._io.read(lambda db: db.execute("PRAGMA synchronous").fetchone()[0])
        await store.close()
        return mode, level

    assert asyncio.run(go("full")) == ("wal", 2)
    assert asyncio.run(go("normal")) == ("wal", 1)


def test_schema_from_a_newer_relaykit_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"

    async def prepare() -> None:
        store = await _opened(path)
        await store.close()

    asyncio.run(prepare())
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, '0099_future.sql', 0)")
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew, match="upgrade relaykit"):
        asyncio.run(_opened(path))
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some notes, not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(StoreCorrupt, match="is not a SQLite database"):
        asyncio.run(_opened(path))
    assert path.read_bytes() == before


def test_claim_leases_fences_and_takeover(tmp_path: Path) -> None:
    async def go() -> None:
        store = await _opened(tmp_path / "db.sqlite")
        await store.create_run(_run("r1"))
        first = await store.claim_runs(
            owner="a", now=1001, lease_until=1011, limit=5, job_ids=["j"]
        )
        assert [r.id for r in first] == ["r1"]
        assert first[0].attempt == 1 and first[0].status is RunStatus.RUNNING
        # leased: nobody else can claim it before expiry
        assert (
            await store.claim_runs(owner="b", now=1005, lease_until=1015, limit=5, job_ids=["j"])
            == []
        )
        await store.record_task(run_id="r1", epoch=1, task=_task("t1"))
        # lease expired: b takes over, a's writes are fenced off
        taken = await store.claim_runs(
            owner="b", now=1012, lease_until=1022, limit=5, job_ids=["j"]
        )
        assert [r.attempt for r in taken] == [2]
        with pytest.raises(LeaseLost):
            await store.record_task(run_id="r1", epoch=1, task=_task("t2"))
        assert [t.key for t in await store.load_tasks("r1")] == ["t1"]
        assert await store.renew_leases(leases={"r1": 1}, lease_until=2000) == set()
        assert await store.renew_leases(leases={"r1": 2}, lease_until=2000) == {"r1"}
        await store.close()

    asyncio.run(go())


def test_claim_only_due_runs_of_known_jobs(tmp_path: Path) -> None:
    async def go() -> None:
        store = await _opened(tmp_path / "db.sqlite")
        await store.create_run(_run("due", now=1000))
        await store.create_run(_run("later", now=5000))
        await store.create_run(_run("other", now=1000, job="unknown"))
        claimed = await store.claim_runs(
            owner="a", now=1001, lease_until=1011, limit=10, job_ids=["j"]
        )
        assert [r.id for r in claimed] == ["due"]
        assert await store.next_wakeup(job_ids=["j"]) == 1011  # the lease expiry comes first
        await store.close()

    asyncio.run(go())


def test_one_write_per_completed_task_and_none_before_it_runs(tmp_path: Path) -> None:
    """Trace the SQL of a run: every task completed at its first attempt is one write of its
    row (no history row: a retried or failed task's attempts get those), issued after the
    task function ran, and an attempt reads the run's tasks in one query."""
    statements: list[str] = []
    order: list[str] = []
    client = Client("w", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")

    @client.define_job(id="count", version="1.0.0")
    async def count(payload: Any, io: Any, ctx: Any) -> int:
        total = 0
        for i in range(5):

            async def step(i: int = i) -> int:
                order.append(f"run {i}")
                return i

            total += await io.run_task(f"t{i}", step)
        return total

    async def go() -> None:
        store = await client.open()
        assert isinstance(store, SqliteStore)

        def trace(sql: str) -> None:
            statements.append(sql)
            if sql.lstrip().upper().startswith("INSERT INTO TASKS"):
                order.append("write")
            elif sql.lstrip().upper().startswith("INSERT INTO TASK_ATTEMPTS"):
                order.append("history")
            elif sql.strip().upper() == "COMMIT":
                order.append("commit")

        store._io.trace(trace)
        result = await client.run("count")
        assert result.output == 10
        await client.close()

    asyncio.run(go())
    task_writes = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO TASKS")]
    assert len(task_writes) == 5
    # a task that succeeds at its first attempt is one statement and no history row (the
    # run's history rebuilds that attempt from the task row)
    steps = [x for i in range(5) for x in (f"run {i}", "write")]
    assert order == [*steps, "commit"]  # the commit: the transaction that ends the attempt
    assert sum(s.strip().upper().startswith("BEGIN") for s in statements) == 1
