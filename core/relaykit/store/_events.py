"""The events aggregate: stored events (once per id), their delivery and the waits they
resolve.

Written once over ``Database``; ``deliver_event`` routes one event inside a transaction. Only
``deliver_due_events``'s loop is each backend's own: PostgreSQL claims each due event
``FOR UPDATE SKIP LOCKED`` in the transaction that delivers it; SQLite reads the due events
on the loop and re-checks each is still pending inside its ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import json

from ..definitions.filters import matches
from ..records import NO_ROUTING, EventRecord, Routing, RunRecord
from ._flow import has_flow_keys, insert_run
from ._rows import event_body, run_params
from ._tasks import event_params
from ._tx import CloseRuns, Database, Row, Tx


async def deliver_event(
    tx: Tx, close_runs: CloseRuns, event: EventRecord, routing: Routing, now: float
) -> list[RunRecord]:
    """Route ``event`` inside the caller's transaction: mark it delivered, cancel the runs not
    yet ended with its cancel keys (a running one stops at its next task boundary), create
    its runs, resolve the open waits it matches and make their runs due. Returns the runs
    that stand for ``routing.runs``."""
    await tx.execute("mark_delivered", (now, event.id))
    if routing.cancels:
        keys = {"keys": tx.array(routing.cancels), "now": now}
        await tx.execute("lock_cancel_parents", keys)
        canceled = [r[0] for r in await tx.fetch_all("cancel_by_keys", keys)]
        if canceled:
            await close_runs(tx, canceled, now)
    plain = [run_params(r, bool) for r in routing.runs if not has_flow_keys(r)]
    if plain:  # the common case: batched
        await tx.execute_many("create_run", plain)
    runs = [await insert_run(tx, r) if has_flow_keys(r) else r for r in routing.runs]
    if routing.tags and runs:
        tags = sorted(set(routing.tags))
        await tx.execute_many("insert_run_tag", [(r.id, t) for r in runs for t in tags])
    await _resolve_waits(tx, event, now)
    return runs


async def _resolve_waits(tx: Tx, event: EventRecord, now: float) -> None:
    """Resolve the open waits ``event`` matches and make their runs due. The waits are read,
    their runs locked in id order (PostgreSQL: every writer of a run's waits holds the run
    row first, so locks go run before wait), then the waits read again under the locks:
    another delivery may have resolved one, or the run ended or added waits meanwhile."""
    payload = json.loads(event.payload)

    def matching(rows: list[Row]) -> list[tuple[str, str]]:
        return [
            (run_id, key)
            for run_id, key, flt in rows
            if flt is None or matches(json.loads(flt), payload)
        ]

    candidates = matching(await tx.fetch_all("open_waits", (event.name,)))
    if not candidates:
        return
    run_ids = tx.array(sorted({run_id for run_id, _ in candidates}))
    await tx.execute("lock_runs", (run_ids,))
    resolved = matching(await tx.fetch_all("lock_open_waits", (event.name, run_ids)))
    if not resolved:
        return
    body = json.dumps(event_body(event))
    await tx.execute_many(
        "resolve_wait", [(event.id, body, run_id, key) for run_id, key in resolved]
    )
    await tx.execute("wake_resolved", (now, tx.array(sorted({r for r, _ in resolved}))))


class Events:
    """Events, read and cancelled over ``Database``."""

    _db: Database
    _close_runs: CloseRuns

    async def insert_event(
        self,
        event: EventRecord,
        *,
        routing: Routing = NO_ROUTING,
        deliver: bool = False,
        now: float = 0.0,
    ) -> list[RunRecord] | None:
        """Store an event once (None when it was stored before); with ``deliver``, route it in
        the same transaction and return the runs that stand for ``routing.runs``."""
        close_runs = self._close_runs

        async def store(tx: Tx) -> list[RunRecord] | None:
            return [] if await tx.execute("insert_event", event_params(event)) == 1 else None

        async def store_and_deliver(tx: Tx) -> list[RunRecord] | None:
            if await tx.execute("insert_event_to_deliver", event_params(event)) != 1:
                return None
            return await deliver_event(tx, close_runs, event, routing, now)

        if not deliver:
            return await self._db.write(store, transaction=False)
        return await self._db.write(store_and_deliver)

    async def cancel_event(self, event_id: str) -> bool:
        """Cancel a pending event (not yet delivered); True when it was pending."""

        async def work(tx: Tx) -> bool:
            return await tx.execute("cancel_event", (event_id,)) == 1

        return await self._db.write(work, transaction=False)

    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event, or None."""

        async def work(tx: Tx) -> EventRecord | None:
            row = await tx.fetch_one("get_event", (event_id,))
            return None if row is None else EventRecord(*row)

        return await self._db.read(work)

    async def list_events(
        self, *, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[EventRecord]:
        """Events, newest first (after ``before``)."""
        name = "list_events" if before is None else "list_events_before"
        at, last = before if before is not None else (None, None)
        params = {"limit": limit, "before_at": at, "before_id": last}

        async def work(tx: Tx) -> list[EventRecord]:
            return [EventRecord(*r) for r in await tx.fetch_all(name, params)]

        return await self._db.read(work)
