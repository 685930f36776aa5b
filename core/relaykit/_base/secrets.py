"""Encryption of stored credentials: Fernet under ``RELAYKIT_SECRET_KEY``.

``RELAYKIT_SECRET_KEY`` holds one or more Fernet keys, comma-separated. The first encrypts;
every one decrypts (``MultiFernet``), so a key is rotated by putting a new one first, re-saving
(``SecretBox.rotate``) and later dropping the old one. Make a key with
``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, final

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

SECRET_KEY_ENV: Final = "RELAYKIT_SECRET_KEY"  # noqa: S105 -- a variable name, not a key


@final
class SecretBox:
    """Encrypts and decrypts JSON objects with a list of Fernet keys (the first encrypts)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigurationError(f"{SECRET_KEY_ENV} names no key; {_HOW}")
        # imported here: cryptography takes tens of ms to load, and only stored connections
        # need it
        from cryptography.fernet import Fernet, MultiFernet

        fernets = []
        for i, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except ValueError:
                raise ConfigurationError(
                    f"{SECRET_KEY_ENV}: key #{i} is not a Fernet key (32 url-safe base64 bytes); "
                    f"{_HOW}"
                ) from None
        self._fernet: MultiFernet = MultiFernet(fernets)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecretBox:
        """The box for ``$RELAYKIT_SECRET_KEY``; a clear one-line error when it is not set."""
        raw = (os.environ if environ is None else environ).get(SECRET_KEY_ENV, "")
        keys = [k for k in raw.split(",") if k.strip()]
        if not keys:
            raise ConfigurationError(
                f"{SECRET_KEY_ENV} is not set, and stored connections are encrypted with it; {_HOW}"
            )
        return cls(keys)

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key."""
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()

    def encrypt(self, data: Mapping[str, Any]) -> str:
        """``data`` as JSON, encrypted with the first key."""
        return self._fernet.encrypt(json.dumps(dict(data)).encode()).decode()

    def decrypt(self, token: str, *, what: str) -> dict[str, Any]:
        """The JSON object in ``token``; ``what`` names it in the error."""
        from cryptography.fernet import InvalidToken

        try:
            plain = self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise ConfigurationError(
                f"cannot decrypt {what}: none of the keys in {SECRET_KEY_ENV} encrypted it; put "
                "the key it was stored with back in the list (comma-separated), or store it again"
            ) from None
        value = json.loads(plain)
        if not isinstance(value, dict):
            raise ConfigurationError(f"{what} does not hold a JSON object; store it again")
        return value

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first key (raises like ``decrypt``)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise ConfigurationError(
                f"cannot re-encrypt a connection: none of the keys in {SECRET_KEY_ENV} encrypted it"
            ) from None


_HOW = (
    "set it to a Fernet key, made with: python -c "
    '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)
