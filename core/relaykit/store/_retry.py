"""Retrying a run from where it stopped: a new run of the same job that starts with some of
the old run's recorded tasks, so those replay from their outputs and the rest executes anew.

The engine decides which tasks are kept (``Operations.retry_run``); the store copies them in
the transaction that queues the new run, so no worker can claim it before its history is in
place. The old run is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..records import RunRecord
from ._rows import run_from_row
from ._tx import Database, Tx


class Retries:
    """``retry_run``, written once over ``Database`` (queries ``replay_*``, ``retry_*``)."""

    _db: Database

    async def retry_run(
        self,
        run_id: str,
        *,
        new_id: str,
        now: float,
        keep: Sequence[str],
        payload: str | None = None,
    ) -> RunRecord | None:
        """Queue ``new_id``, a copy of ``run_id`` as ``replay_run`` makes it (with ``payload``
        instead of the old one when given), holding copies of the old run's tasks whose keys
        are in ``keep``, of its ``io.store.run`` entries and of its tags. None when
        ``run_id`` is unknown.
        With tasks kept, the new run continues the old one's attempt count (its first claim
        then loads the history, which a run's first attempt skips)."""
        params = {
            "id": run_id,
            "new": new_id,
            "now": now,
            "payload": payload,
            "new_scope": f"run:{new_id}",
            "old_scope": f"run:{run_id}",
        }

        async def work(tx: Tx) -> RunRecord | None:
            if not await tx.execute("replay_run", params):
                return None
            await tx.execute("replay_groups", params)
            await tx.execute("retry_link", params)
            if payload is not None:
                await tx.execute("retry_payload", params)
            if keep:
                keys = {**params, "keys": tx.array(sorted(keep))}
                await tx.execute("retry_copy_tasks", keys)
                await tx.execute("retry_copy_task_attempts", keys)
                await tx.execute("retry_attempts", params)
            await tx.execute("retry_copy_kv", params)
            # the run's metadata (``io.metadata``), which its kept tasks wrote
            meta = {"new_scope": f"meta:{new_id}", "old_scope": f"meta:{run_id}"}
            await tx.execute("retry_copy_kv", meta)
            await tx.execute("retry_copy_tags", params)
            row = await tx.fetch_one("get_run", (new_id,))
            return None if row is None else run_from_row(row)

        return await self._db.write(work)

    async def get_retry_of(self, run_id: str) -> str | None:
        """The run ``run_id`` is a retry of (None: it is no retry, or there is no such run)."""

        async def work(tx: Tx) -> str | None:
            row = await tx.fetch_one("get_retry_of", (run_id,))
            return None if row is None or row[0] is None else str(row[0])

        return await self._db.read(work)


__all__ = ["Retries"]
