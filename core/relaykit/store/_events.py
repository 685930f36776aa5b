"""The events aggregate: stored events (once per id), their delivery and the waits they
resolve.

Reading and cancelling are written once over ``Database``. Delivery — ``insert_event``
with ``deliver``, ``deliver_due_events`` — is each backend's own: PostgreSQL claims each due
event ``FOR UPDATE SKIP LOCKED`` and locks the runs whose waits it resolves, in id order;
SQLite re-checks the event is still pending inside its ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

from .._models import EventRecord
from ._tx import Database, Tx


class Events:
    """Events, read and cancelled over ``Database``."""

    _db: Database

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

    async def list_events(self, *, limit: int = 50) -> list[EventRecord]:
        """Events, newest first."""

        async def work(tx: Tx) -> list[EventRecord]:
            return [EventRecord(*r) for r in await tx.fetch_all("list_events", (limit,))]

        return await self._db.read(work)
