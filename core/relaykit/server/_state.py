"""What every request handler reaches through ``request.app.state.relaykit``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._auth import Access

if TYPE_CHECKING:
    from .._client import Client
    from ..store import Store


@dataclass
class ServerState:
    """The client whose jobs and store the server exposes, and access control on that store."""

    client: Client

    @property
    def store(self) -> Store:
        """The client's store (opened by the handlers before use)."""
        return self.client.store

    @property
    def access(self) -> Access:
        """API keys, users and sessions, on the client's store and clock."""
        return Access(self.client.store, self.client.clock)
