"""``ClientPool``: one authenticated API client per integration instance and credentials, per
engine, reused by every task that uses them.

Opening a client per task (the way the first plugins did) costs a new TCP connection and TLS
handshake per API call. Instead the engine keeps each client ``Integration.create_client``
made, keyed by the integration's type and id and a digest of the credentials it was made
with, and closes them when the engine closes. When the credentials change (an OAuth token
refreshed, a GitHub App installation token renewed) a new client is made and the old one is
*retired*: it is closed as soon as the tasks still using it have finished, so a long-running
worker never accumulates clients and no in-flight request loses its connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from .auth import Credentials

if TYPE_CHECKING:
    from .base import Integration


def fingerprint(credentials: Credentials) -> str:
    """A digest of what a client is authenticated with (never the secrets themselves)."""
    parts = (credentials.token_type, credentials.access_token, credentials.scope or "")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(slots=True)
class _Pooled:
    client: Any
    fingerprint: str
    users: int = 0
    retired: bool = False
    closed: bool = False

    async def close(self) -> None:
        """Close the client, once."""
        if not self.closed:
            self.closed = True
            await _close(self.client)


@final
class ClientPool:
    """The clients of one engine's integrations (see the module docstring)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[type[Any], str], _Pooled] = {}
        self._retired: list[_Pooled] = []
        self._making = asyncio.Lock()  # two first uses at once make one client
        self.created = 0

    @asynccontextmanager
    async def use(self, integration: Integration, credentials: Credentials) -> AsyncIterator[Any]:
        """The pooled client for ``integration`` authenticated with ``credentials``, made by
        its ``create_client`` on first use; kept open for the next task when the block ends."""
        key = (type(integration), integration.id)
        digest = fingerprint(credentials)
        pooled = self._clients.get(key)
        if pooled is None or pooled.fingerprint != digest:
            async with self._making:
                pooled = self._clients.get(key)
                if pooled is None or pooled.fingerprint != digest:
                    pooled = await self._make(key, integration, credentials, digest)
        pooled.users += 1
        try:
            yield pooled.client
        finally:
            pooled.users -= 1
            if pooled.retired and pooled.users == 0:
                if pooled in self._retired:
                    self._retired.remove(pooled)
                await pooled.close()

    async def _make(
        self,
        key: tuple[type[Any], str],
        integration: Integration,
        credentials: Credentials,
        digest: str,
    ) -> _Pooled:
        client = integration.create_client(credentials)
        if hasattr(client, "__aenter__"):
            client = await client.__aenter__()
        self.created += 1
        fresh, old = _Pooled(client, digest), self._clients.get(key)
        self._clients[key] = fresh
        if old is not None:
            await self._retire(old)
        return fresh

    async def _retire(self, pooled: _Pooled) -> None:
        pooled.retired = True
        if pooled.users == 0:
            await pooled.close()
        else:
            self._retired.append(pooled)

    async def close(self) -> None:
        """Close every client (the engine is closing)."""
        pooled = [*self._clients.values(), *self._retired]
        self._clients.clear()
        self._retired.clear()
        for item in pooled:
            item.retired = True
            await item.close()


async def _close(client: Any) -> None:
    """Close a client that is an async context manager, or has ``aclose``/``close``."""
    if hasattr(client, "__aexit__"):
        await client.__aexit__(None, None, None)
        return
    close = getattr(client, "aclose", None) or getattr(client, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result
