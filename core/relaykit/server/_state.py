"""What every request handler reaches through ``request.app.state.relaykit``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from ._auth import Access

#: The environment variable naming the public URL the app is reached at (OAuth redirect URIs).
PUBLIC_URL_ENV: Final = "RELAYKIT_PUBLIC_URL"

if TYPE_CHECKING:
    from ..client import Client
    from ..engine.operations import Operations
    from ..store import Store


def resolve_public_url(given: str | None = None) -> str | None:
    """The public base URL: ``given``, else ``$RELAYKIT_PUBLIC_URL``, else None; checked to
    be an absolute ``http(s)`` URL without query or fragment, and returned without a
    trailing ``/``. Raises ``ConfigurationError`` naming the bad value."""
    value = given if given is not None else os.environ.get(PUBLIC_URL_ENV) or None
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigurationError(
            f"{PUBLIC_URL_ENV} must be the http(s) URL the dashboard is reached at, such as "
            f"https://ops.example.com/relaykit (no query or fragment), got {value!r}"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


@dataclass
class ServerState:
    """The client whose jobs and store the server exposes, access control on that store, and
    the public URL the app is reached at (None: not configured)."""

    client: Client
    public_url: str | None = None

    @property
    def store(self) -> Store:
        """The client's store (opened by the handlers before use)."""
        return self.client.store

    async def operations(self) -> Operations:
        """The engine's operations on the client's store (opened) and jobs."""
        return await self.client.operations()

    @property
    def access(self) -> Access:
        """API keys, users and sessions, on the client's store and clock."""
        return Access(self.client.store, self.client.clock)
