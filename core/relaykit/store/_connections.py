"""The stored form of an integration's connection (its credentials, encrypted).

The store sees ciphertext only: encryption and decryption happen above it
(``relaykit._base.secrets``), under ``RELAYKIT_SECRET_KEY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import final


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
