"""The flow-control aggregate: how a new run meets its idempotency key, debounce key and
concurrency/throttle groups (``insert_run``), written once for both databases.

Claiming within the groups' limits is ``claim_runs``, each backend's own (PostgreSQL
locks candidates ``FOR UPDATE SKIP LOCKED`` and counts busy groups under an advisory lock;
SQLite's one writer at a time needs neither); both admit candidates through ``_rows.admit``.
"""

from __future__ import annotations

import zlib
from typing import Final

from ..records import RunRecord
from ._rows import run_from_row, run_params
from ._tx import Tx

#: The advisory-lock class of debounce locks (PostgreSQL's two-int key space): "rlkd".
DEBOUNCE_LOCK_CLASS: Final = 0x726C6B64


def has_flow_keys(run: RunRecord) -> bool:
    """Whether creating ``run`` takes more than one INSERT (``insert_run``)."""
    return bool(run.groups or run.idempotency_key or run.debounce_key)


async def insert_run(tx: Tx, run: RunRecord) -> RunRecord:
    """Insert ``run`` — unless a live idempotency key leads to an existing run, or a queued
    run with its debounce key takes its payload and due time — and return the run that
    stands for it. Inside a transaction when the run has flow-control keys or groups.

    The idempotency key is settled first, by the key row itself (``claim_idempotency_key``
    inserts it, or takes over an expired one, and returns a row; on a live key it returns
    none, and on PostgreSQL still locks it): of concurrent creators with one key, exactly one
    inserts and the others return its run. Debounced triggers are serialized per (job, key)
    by ``debounce_lock`` (an advisory lock on PostgreSQL; SQLite has one writer already).
    """
    if not has_flow_keys(run):
        await tx.execute("create_run", run_params(run, bool))
        return run
    key = {
        "job": run.job_id,
        "key": run.idempotency_key,
        "id": run.id,
        "expires": run.created_at + run.idempotency_ttl,
        "now": run.created_at,
    }
    if run.idempotency_key is not None:
        if await tx.fetch_one("claim_idempotency_key", key) is None:  # a live key
            row = await tx.fetch_one("idempotent_run", key)
            if row is not None:
                return run_from_row(row)
            await tx.execute("move_idempotency_key", key)  # its run is gone: take it
    if run.debounce_key is not None:
        # the (job, key) pair hashed to the lock's second int4 (signed); two keys sharing a
        # hash only wait for each other a moment
        lock = zlib.crc32(f"{run.job_id}\x00{run.debounce_key}".encode())
        await tx.execute("debounce_lock", (DEBOUNCE_LOCK_CLASS, lock - (lock >> 31 << 32)))
        row = await tx.fetch_one(
            "debounce_run",
            {
                "payload": run.payload,
                "due": run.next_attempt_at,
                "job": run.job_id,
                "key": run.debounce_key,
            },
        )
        if row is not None:
            found = run_from_row(row)
            if run.idempotency_key is not None:  # the key leads to the run that stands for it
                await tx.execute("move_idempotency_key", {**key, "id": found.id})
            return found
    await tx.execute("create_run", run_params(run, bool))
    if run.groups:
        await tx.execute_many("insert_run_group", [(run.id, *g) for g in run.groups])
    return run
