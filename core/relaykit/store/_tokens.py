"""The waitpoint tokens aggregate: tokens runs create (``io.create_token``), complete once.

A run waits for a token through an ``event_waits`` row named ``TOKEN_WAIT_PREFIX + id``, so
resuming, timing out and closing a waiting run are the event waits' own paths. A run waits
only for tokens it created, which makes the run row the point both writers serialize on:
``complete_token`` locks the token's run (PostgreSQL ``FOR UPDATE``; SQLite's
``BEGIN IMMEDIATE`` holds the file) before it completes the token and resolves the waits,
and ``end_attempt`` — which holds the same row while it stores new waits — resolves a new
wait for a token already completed (``resolve_done_token_waits``). Whichever commits first,
the other sees it: the run is woken exactly once, never missed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import LeaseLost
from ..records import TOKEN_WAIT_PREFIX, TokenRecord
from ._tx import Database, Row, Tx


def _token(row: Row) -> TokenRecord:
    return TokenRecord(
        id=row[0],
        run_id=row[1],
        task_key=row[2],
        tags=tuple(json.loads(row[3])),
        created_at=row[4],
        expires_at=row[5],
        completed_at=row[6],
        body=row[7],
    )


class Tokens:
    """Waitpoint tokens, written once over ``Database`` (queries ``*_token*``)."""

    _db: Database

    async def create_token(self, *, run_id: str, epoch: int, token: TokenRecord) -> None:
        """Store a token for the attempt ``epoch`` of ``run_id`` (fenced: ``LeaseLost``
        once the attempt lost the run). Storing the same id again changes nothing, so a task
        that creates a token can run again after a crash."""
        params = {
            "id": token.id,
            "run_id": run_id,
            "epoch": epoch,
            "task_key": token.task_key,
            "tags": json.dumps(list(token.tags)),
            "created_at": token.created_at,
            "expires_at": token.expires_at,
        }

        async def work(tx: Tx) -> None:
            if await tx.fetch_one("lease_fence", (run_id, epoch)) is None:
                raise LeaseLost(f"run {run_id}: lease lost; token {token.id} was not created")
            await tx.execute("insert_token", params)

        await self._db.write(work)

    async def get_token(self, token_id: str) -> TokenRecord | None:
        """One token, or None."""

        async def work(tx: Tx) -> TokenRecord | None:
            row = await tx.fetch_one("get_token", (token_id,))
            return None if row is None else _token(row)

        return await self._db.read(work)

    async def list_tokens(self, *, run_id: str | None = None, limit: int = 50) -> list[TokenRecord]:
        """Tokens newest first, of ``run_id`` when given."""
        name = "list_tokens" if run_id is None else "list_run_tokens"

        async def work(tx: Tx) -> list[TokenRecord]:
            rows = await tx.fetch_all(name, {"run_id": run_id, "limit": limit})
            return [_token(r) for r in rows]

        return await self._db.read(work)

    async def complete_token(
        self, token_id: str, data: Any, *, now: float
    ) -> tuple[TokenRecord | None, bool]:
        """Complete a waiting token with ``data`` (JSON-serializable) and make the runs waiting
        for it due, in one transaction. Returns the token as stored and whether this call
        completed it (False: no such token, or completed or timed out before — the stored
        data is left as it was)."""
        body = json.dumps({"data": data}, ensure_ascii=False)
        name = TOKEN_WAIT_PREFIX + token_id

        async def work(tx: Tx) -> tuple[TokenRecord | None, bool]:
            row = await tx.fetch_one("get_token", (token_id,))
            if row is None:
                return None, False
            await tx.execute("lock_runs", (tx.array([row[1]]),))
            if not await tx.execute("complete_token", (now, body, token_id, now)):
                again = await tx.fetch_one("get_token", (token_id,))
                return (None if again is None else _token(again)), False
            waits: Sequence[Row] = await tx.fetch_all("lock_open_waits", (name, tx.array([row[1]])))
            if waits:
                await tx.execute_many(
                    "resolve_wait", [(token_id, body, run_id, key) for run_id, key, _ in waits]
                )
                await tx.execute("wake_resolved", (now, tx.array([row[1]])))
            done = await tx.fetch_one("get_token", (token_id,))
            return (None if done is None else _token(done)), True

        return await self._db.write(work)


__all__ = ["Tokens"]
