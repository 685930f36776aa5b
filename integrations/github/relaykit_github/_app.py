"""GitHub App authentication: a JWT signed with the app's private key, exchanged for an
installation access token, cached per process until shortly before it expires.

GitHub's rules ("Authenticating as a GitHub App installation"): the JWT is signed RS256 with the
app's private key, ``iat`` 60 seconds in the past (clock drift), ``exp`` at most 10 minutes
ahead, ``iss`` the app's id; ``POST /app/installations/{installation_id}/access_tokens`` with it
answers an installation token valid for an hour (``expires_at``).

The private key and the JWT stay inside this module: they are never put in an error message,
a task's params or output, or a log line. The installation token is returned as the task's
``Credentials`` (the core redacts it from outputs and errors like any token).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx2
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from relaykit import Credentials, NonRetriable

from ._client import API_VERSION
from ._http import classify

JWT_BACKDATE = 60
"""Seconds ``iat`` is set in the past (GitHub: against clock drift)."""

JWT_LIFETIME = 9 * 60
"""Seconds until the JWT's ``exp`` (GitHub allows at most 10 minutes)."""

REFRESH_LEEWAY = 60.0
"""A cached installation token is replaced this many seconds before its ``expires_at``."""

_CacheKey = tuple[str, str, str]
_TOKENS: dict[_CacheKey, Credentials] = {}
"""Installation tokens by (API base URL, app id, installation id): one per process."""


def clear_token_cache() -> None:
    """Forget every cached installation token (tests; after rotating an app's key)."""
    _TOKENS.clear()


@dataclass(frozen=True, slots=True)
class AppAuth:
    """A GitHub App installation's identity; the key is read when a token is needed."""

    app_id: str
    installation_id: str
    private_key: Callable[[], str]
    """Returns the PEM private key (the literal one, or the environment variable's value)."""

    def __repr__(self) -> str:  # the key never appears in a repr
        return f"AppAuth(app_id={self.app_id!r}, installation_id={self.installation_id!r})"


def app_jwt(app_id: str, private_key_pem: str, now: float) -> str:
    """The app's JWT: RS256, ``iat`` = now - 60 s, ``exp`` = now + 9 min, ``iss`` = app id."""
    try:
        key = RSAKey.import_key(private_key_pem)
    except (JoseError, ValueError, TypeError):
        # No chained exception: the parser's error could quote the key.
        raise NonRetriable(
            f"GitHub App {app_id}: the private key is not a PEM RSA private key (use the .pem "
            "file GitHub generated for the app)"
        ) from None
    if not key.is_private:
        raise NonRetriable(
            f"GitHub App {app_id}: the private key is a public key; pass the app's private key"
        )
    issued = int(now)
    claims = {"iat": issued - JWT_BACKDATE, "exp": issued + JWT_LIFETIME, "iss": app_id}
    return jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, key, algorithms=["RS256"])


def _expires_at(body: Any) -> float:
    text = str(body.get("expires_at") or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise NonRetriable(
            f"GitHub's installation token response has no valid expires_at ({text!r})"
        ) from None


async def installation_token(
    auth: AppAuth,
    *,
    base_url: str,
    transport: httpx2.AsyncBaseTransport | None,
    now: float,
) -> Credentials:
    """The installation's token: the cached one, unless it expires within a minute of ``now``;
    else a new one from ``POST /app/installations/{id}/access_tokens``."""
    cache_key = (base_url.rstrip("/"), auth.app_id, auth.installation_id)
    cached = _TOKENS.get(cache_key)
    if cached is not None and not cached.expired(now, REFRESH_LEEWAY):
        return cached
    token = app_jwt(auth.app_id, auth.private_key(), now)
    async with httpx2.AsyncClient(
        base_url=base_url,
        transport=transport,
        headers={
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "relaykit-github",
        },
        timeout=30.0,
    ) as client:
        response = await client.post(
            f"/app/installations/{auth.installation_id}/access_tokens",
            headers={"Authorization": f"Bearer {token}"},
        )
    error = classify(response, now=now)
    if error is not None:
        # GitHub's answer names the status and its message, never the JWT (sent in a header).
        raise error
    body = response.json()
    if not isinstance(body, dict) or not body.get("token"):
        raise NonRetriable("GitHub's installation token response has no token")
    credentials = Credentials(str(body["token"]), expires_at=_expires_at(body))
    _TOKENS[cache_key] = credentials
    return credentials


__all__ = ["AppAuth", "app_jwt", "clear_token_cache", "installation_token"]
