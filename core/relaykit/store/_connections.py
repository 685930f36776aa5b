"""The connections aggregate: an integration's stored credentials (encrypted).

The store sees ciphertext only: encryption and decryption happen above it
(``relaykit._base.secrets``), under ``RELAYKIT_SECRET_KEY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from ._tx import Database, Tx


@final
@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One row of ``connections``: the credentials of the integration with this id."""

    integration_id: str
    credentials: str
    """A Fernet token: the encrypted JSON of the credentials."""
    expires_at: float | None
    """When the access token expires (epoch seconds); None when it does not."""
    updated_at: float


CONNECTION_COLS = "integration_id, credentials, expires_at, updated_at"


def connection_from_row(row: tuple[object, ...]) -> ConnectionRecord:
    """A ``ConnectionRecord`` from a row of ``CONNECTION_COLS``."""
    integration_id, credentials, expires_at, updated_at = row[:4]
    return ConnectionRecord(
        str(integration_id),
        str(credentials),
        None if expires_at is None else float(expires_at),  # type: ignore[arg-type]
        float(updated_at),  # type: ignore[arg-type]
    )


def connection_params(c: ConnectionRecord) -> tuple[object, ...]:
    """``put_connection``'s parameters."""
    return (c.integration_id, c.credentials, c.expires_at, c.updated_at)


class Connections:
    """Connections, written once over ``Database``; ``refresh_connection`` (single flight)
    is each backend's own: PostgreSQL holds the row ``FOR UPDATE``, SQLite a lock column."""

    _db: Database

    async def get_connection(self, integration_id: str) -> ConnectionRecord | None:
        """The connection of the integration with this id, or None."""

        async def work(tx: Tx) -> ConnectionRecord | None:
            row = await tx.fetch_one("get_connection", (integration_id,))
            return None if row is None else connection_from_row(row)

        return await self._db.read(work)

    async def put_connection(self, connection: ConnectionRecord) -> None:
        """Insert or replace a connection, and make the runs waiting for one due."""

        async def work(tx: Tx) -> None:
            await tx.execute("put_connection", connection_params(connection))
            # runs that waited for a connection try again (one still missing its own goes
            # back to waiting when its task meets the missing credentials again)
            await tx.execute("requeue_waiting_for_connection", (connection.updated_at,))

        await self._db.write(work)

    async def delete_connection(self, integration_id: str) -> bool:
        """Remove a connection; True when there was one."""

        async def work(tx: Tx) -> bool:
            return await tx.execute("delete_connection", (integration_id,)) > 0

        return await self._db.write(work, transaction=False)

    async def list_connections(self) -> list[ConnectionRecord]:
        """Every connection, by integration id."""

        async def work(tx: Tx) -> list[ConnectionRecord]:
            return [connection_from_row(r) for r in await tx.fetch_all("list_connections")]

        return await self._db.read(work)
