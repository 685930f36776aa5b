"""Records of who may use the HTTP API and the dashboard: API keys, users and sessions.

Only hashes of secrets are stored: an API key's and a session token's SHA-256 (both are
high-entropy random strings, so a fast hash is enough), a password's scrypt hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import final


@final
@dataclass(slots=True, frozen=True)
class ApiKeyRecord:
    """An API key as stored: never the key itself, only its SHA-256 hex digest."""

    id: str
    name: str
    key_hash: str
    created_at: float
    revoked_at: float | None = None


@final
@dataclass(slots=True, frozen=True)
class UserRecord:
    """A dashboard user; ``password_hash`` is ``scrypt$n$r$p$salt$hash`` (hex fields)."""

    name: str
    password_hash: str
    created_at: float


@final
@dataclass(slots=True, frozen=True)
class SessionRecord:
    """A dashboard session or a one-time login token (``kind`` "session" or "login").

    ``subject`` says who it belongs to (``user:NAME``, ``key:ID`` or ``cli``); ``token_hash``
    is the SHA-256 hex digest of the opaque token handed to the browser.
    """

    token_hash: str
    kind: str
    subject: str
    created_at: float
    expires_at: float


__all__ = ["ApiKeyRecord", "SessionRecord", "UserRecord"]
