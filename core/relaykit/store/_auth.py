"""The access aggregate: API keys, dashboard users and sessions (hashes only)."""

from __future__ import annotations

from ._tx import Database, Tx
from .access import ApiKeyRecord, SessionRecord, UserRecord


class Access:
    """API keys, users and sessions, written once over ``Database``."""

    _db: Database

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        """Store a new API key (its hash only)."""
        params = (key.id, key.name, key.key_hash, key.created_at, key.revoked_at)

        async def work(tx: Tx) -> None:
            await tx.execute("create_api_key", params)

        await self._db.write(work, transaction=False)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """One API key by id, or None."""

        async def work(tx: Tx) -> ApiKeyRecord | None:
            row = await tx.fetch_one("get_api_key", (key_id,))
            return None if row is None else ApiKeyRecord(*row)

        return await self._db.read(work)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """All API keys, oldest first."""

        async def work(tx: Tx) -> list[ApiKeyRecord]:
            return [ApiKeyRecord(*r) for r in await tx.fetch_all("list_api_keys")]

        return await self._db.read(work)

    async def revoke_api_key(self, key_id: str, *, now: float) -> bool:
        """Revoke a key; False when there is no such unrevoked key."""

        async def work(tx: Tx) -> bool:
            return await tx.execute("revoke_api_key", (now, key_id)) == 1

        return await self._db.write(work, transaction=False)

    async def create_user(self, user: UserRecord) -> bool:
        """Store a new user; False when the name is taken."""
        params = (user.name, user.password_hash, user.created_at)

        async def work(tx: Tx) -> bool:
            return await tx.execute("create_user", params) == 1

        return await self._db.write(work, transaction=False)

    async def get_user(self, name: str) -> UserRecord | None:
        """One user, or None."""

        async def work(tx: Tx) -> UserRecord | None:
            row = await tx.fetch_one("get_user", (name,))
            return None if row is None else UserRecord(*row)

        return await self._db.read(work)

    async def create_session(self, session: SessionRecord) -> None:
        """Store a session or login token, dropping expired ones on the way."""
        s = session

        async def work(tx: Tx) -> None:
            await tx.execute("drop_expired_sessions", (s.created_at,))
            params = (s.token_hash, s.kind, s.subject, s.created_at, s.expires_at)
            await tx.execute("create_session", params)

        await self._db.write(work)

    async def get_session(self, token_hash: str, *, now: float) -> SessionRecord | None:
        """An unexpired session, or None."""

        async def work(tx: Tx) -> SessionRecord | None:
            row = await tx.fetch_one("get_session", (token_hash, now))
            return None if row is None else SessionRecord(*row)

        return await self._db.read(work)

    async def take_session(self, token_hash: str, *, now: float) -> SessionRecord | None:
        """Delete a session and return it unless it had expired (one statement: of two
        concurrent callers at most one gets it)."""

        async def work(tx: Tx) -> SessionRecord | None:
            row = await tx.fetch_one("take_session", (token_hash,))
            return None if row is None else SessionRecord(*row)

        found = await self._db.write(work, transaction=False)
        return found if found is not None and found.expires_at > now else None
