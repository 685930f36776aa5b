"""Signed callback URLs of waitpoint tokens.

A token's URL is ``<public URL>/api/v1/tokens/<id>/complete?signature=<hex>``: POSTing JSON
data to it completes the token without an API key. The signature is an HMAC-SHA256 of the
token id under a key derived from ``RELAYKIT_SECRET_KEY``'s first key (every listed key is
accepted when checking, so rotating the secret keeps issued URLs working while the old key
stays listed). The signature is computed, never stored: a run's recorded output holds the
token id only, and the URL is rebuilt from it. ``RELAYKIT_PUBLIC_URL`` is the address the
server is reached at; without it the URL is the path alone, to prefix with that address.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Final, final

#: The environment variables read (the same names the server and the connections use).
SECRET_KEY_ENV: Final = "RELAYKIT_SECRET_KEY"  # noqa: S105 -- a variable name, not a key
PUBLIC_URL_ENV: Final = "RELAYKIT_PUBLIC_URL"
_PURPOSE: Final = b"relaykit waitpoint token url v1"


@final
class TokenSigner:
    """Signs and checks token ids with keys derived from ``RELAYKIT_SECRET_KEY``."""

    def __init__(self, secrets: list[str], public_url: str | None = None) -> None:
        # a key of its own per purpose: the Fernet keys' bytes are not used directly
        self._keys = [
            hmac.new(s.strip().encode(), _PURPOSE, hashlib.sha256).digest() for s in secrets
        ]
        self._base = (public_url or "").rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenSigner:
        """The signer for ``$RELAYKIT_SECRET_KEY`` and ``$RELAYKIT_PUBLIC_URL`` (no keys,
        hence no URLs, when the secret is not set)."""
        env = os.environ if environ is None else environ
        secrets = [k for k in env.get(SECRET_KEY_ENV, "").split(",") if k.strip()]
        return cls(secrets, env.get(PUBLIC_URL_ENV) or None)

    @property
    def can_sign(self) -> bool:
        """Whether a secret is configured."""
        return bool(self._keys)

    def signature(self, token_id: str) -> str | None:
        """The hex signature of ``token_id`` (None without a secret)."""
        if not self._keys:
            return None
        return _sign(self._keys[0], token_id)

    def url(self, token_id: str) -> str | None:
        """The token's signed callback URL (None without a secret)."""
        sig = self.signature(token_id)
        if sig is None:
            return None
        return f"{self._base}/api/v1/tokens/{token_id}/complete?signature={sig}"

    def verify(self, token_id: str, signature: str) -> bool:
        """Whether ``signature`` is ``token_id``'s under any configured key."""
        given = signature.strip().lower().encode()
        return any(hmac.compare_digest(_sign(k, token_id).encode(), given) for k in self._keys)


def _sign(key: bytes, token_id: str) -> str:
    return hmac.new(key, token_id.encode(), hashlib.sha256).hexdigest()
