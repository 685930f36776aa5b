"""The run tags aggregate: a set of labels per run, and the runs that carry a tag.

Tags are a set (adding one twice changes nothing), so an ``io.tags.add`` replayed after a
crash writes nothing new; a run's own writes are fenced by its attempt's epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import LeaseLost
from ..records import RunRecord
from ._rows import run_from_row
from ._tx import Database, Tx


class Tags:
    """Run tags, written once over ``Database`` (queries ``*_run_tag*``, ``*tagged*``)."""

    _db: Database

    async def add_run_tags(
        self, run_id: str, tags: Sequence[str], *, epoch: int | None = None
    ) -> None:
        """Add ``tags`` to ``run_id`` (those it has already are kept once). With ``epoch``
        the write is the attempt's, fenced: ``LeaseLost`` once it lost the run."""
        if not tags:
            return

        async def work(tx: Tx) -> None:
            if epoch is not None and await tx.fetch_one("lease_fence", (run_id, epoch)) is None:
                raise LeaseLost(f"run {run_id}: lease lost; its tags were not added")
            await tx.execute_many("insert_run_tag", [(run_id, t) for t in sorted(set(tags))])

        await self._db.write(work)

    async def get_run_tags(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        """The tags of each of ``run_ids`` that has any, sorted."""
        if not run_ids:
            return {}

        async def work(tx: Tx) -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            for run_id, tag in await tx.fetch_all("run_tags_of", (tx.array(run_ids),)):
                found.setdefault(run_id, []).append(tag)
            return found

        return await self._db.read(work)

    async def list_tagged_runs(
        self,
        tag: str,
        *,
        job_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[RunRecord]:
        """Runs carrying ``tag``, newest first, of ``job_id`` and in ``status`` when given,
        after ``before`` (a (created_at, id) keyset position)."""
        at, last = before if before is not None else (None, None)
        params = {
            "tag": tag,
            "job": job_id,
            "status": status,
            "limit": limit,
            "before_at": at,
            "before_id": last,
        }

        async def work(tx: Tx) -> list[RunRecord]:
            return [run_from_row(r) for r in await tx.fetch_all("list_tagged_runs", params)]

        return await self._db.read(work)


__all__ = ["Tags"]
