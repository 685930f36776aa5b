"""The key-value store aggregate: ``store.run/job/env`` entries, JSON text by (scope, name)."""

from __future__ import annotations

from ._tx import Database, Tx


class Kv:
    """``kv_get``/``kv_set``, written once over ``Database`` (queries ``kv_*``)."""

    _db: Database

    async def kv_get(self, scope: str, name: str) -> str | None:
        """A key-value entry's JSON text, or None."""

        async def work(tx: Tx) -> str | None:
            row = await tx.fetch_one("kv_get", (scope, name))
            return None if row is None else str(row[0])

        return await self._db.read(work)

    async def kv_set(self, scope: str, name: str, value: str | None, *, now: float) -> None:
        """Write or (with None) delete one key-value entry."""

        async def work(tx: Tx) -> None:
            if value is None:
                await tx.execute("kv_delete", (scope, name))
            else:
                await tx.execute("kv_set", (scope, name, value, now))

        await self._db.write(work, transaction=False)
