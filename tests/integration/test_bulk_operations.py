"""``Operations.bulk`` on both store backends (a real SQLite file and real PostgreSQL): the
counts it gives for each filter and the cap, and that a dry run changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.pg import Backend

from relaykit import RunStatus
from relaykit.engine.operations import Operations
from relaykit.records import RunRecord
from relaykit.store import Store
from relaykit.testing import ManualClock

NOW = 1_000.0


def _run(i: int, status: RunStatus, job: str = "j") -> RunRecord:
    ended = None if status in (RunStatus.QUEUED, RunStatus.WAITING) else NOW + i
    return RunRecord(
        id=f"r{i}",
        job_id=job,
        job_version="1.0.0" if i % 2 else "2.0.0",
        status=status,
        payload='{"n": 1}',
        created_at=NOW + i,
        next_attempt_at=None if ended else NOW + i,
        ended_at=ended,
    )


async def _seed(store: Store) -> Operations:
    statuses = [RunStatus.FAILED, RunStatus.SUCCEEDED] + [RunStatus.QUEUED] * 5
    for i, status in enumerate(statuses):  # r0 failed, r1 succeeded, r2..r6 queued
        await store.create_run(_run(i, status))
    await store.create_run(_run(7, RunStatus.QUEUED, job="k"))
    return Operations(store, clock=ManualClock(NOW + 100))


def test_bulk_counts_filters_caps_and_dry_runs(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        ops = await _seed(store)
        out: dict[str, Any] = {}
        dry = await ops.bulk("cancel", job="j", dry_run=True)
        out["dry"] = (dry.matched, dry.done, dry.skipped, dry.sample, dry.capped)
        out["after_dry"] = sorted(r.status.value for r in [await store.get_run("r6")] if r)
        first = await ops.bulk("cancel", job="j", status="queued", cap=3)
        out["first"] = (first.matched, first.done, first.capped, first.sample)
        rest = await ops.bulk("cancel", job="j", status="queued", cap=3)
        out["rest"] = (rest.matched, rest.done, rest.capped, rest.sample)
        old = await ops.bulk("retry", job="j", until=NOW + 1)
        out["old"] = (old.matched, old.done, old.skipped, len(old.new_runs))
        recent = await ops.bulk("replay", since=NOW + 6, until=NOW + 7, dry_run=True)
        out["recent"] = recent.sample
        versioned = await ops.bulk("cancel", job="j", version="1.0.0", dry_run=True)
        out["versioned"] = versioned.sample
        out["k"] = (await ops._run("r7")).status.value
        return out

    got = asyncio.run(backend.run(go))
    assert got["dry"] == (
        7,
        0,
        {"already ended": 2},
        ["r6", "r5", "r4", "r3", "r2", "r1", "r0"],
        False,
    )
    assert got["after_dry"] == ["queued"]
    assert got["first"] == (3, 3, True, ["r6", "r5", "r4"])
    assert got["rest"] == (2, 2, False, ["r3", "r2"])
    # until: r1 and r0; only the failed one is retried
    assert got["old"] == (2, 1, {"succeeded: not failed, canceled or timed out": 1}, 1)
    assert got["recent"] == ["r7", "r6"]
    assert got["versioned"] == ["r5", "r3", "r1"]
    assert got["k"] == "queued"  # another job's run was never touched
