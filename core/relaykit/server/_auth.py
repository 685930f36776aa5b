"""Secrets of the HTTP layer: API keys, passwords, sessions, one-time login links, CSRF tokens.

An API key reads ``rk_<id>_<secret>``: the id finds the stored record, and the SHA-256 of the
whole key is compared with the stored hash in constant time. Session and login tokens are 32
random bytes; the store keeps only their SHA-256. Passwords are hashed with scrypt. A form's
CSRF token is an HMAC of the session token, so it is tied to the session, and a page never
shows the session token itself (the cookie is HttpOnly).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from .._access import ApiKeyRecord, SessionRecord, UserRecord
from .._clock import Clock
from .._names import check_text
from ..store import Store

KEY_PREFIX: Final = "rk_"
SESSION_SECONDS: Final = 12 * 3600.0
LOGIN_LINK_SECONDS: Final = 15 * 60.0
# scrypt cost: n=2**14, r=8 is the interactive-login setting recommended by the scrypt paper
# (about 16 MiB and tens of milliseconds per check).
_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1


def sha256_hex(text: str) -> str:
    """SHA-256 hex digest of ``text`` (for high-entropy tokens only, never passwords)."""
    return hashlib.sha256(text.encode()).hexdigest()


def hash_password(password: str) -> str:
    """A salted scrypt hash, ``scrypt$n$r$p$salt$hash``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``hash_password`` result (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=128 * int(r) * int(n) * 2,
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made API key: ``secret`` is shown once and never stored."""

    record: ApiKeyRecord
    secret: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: ``key:ID``, ``user:NAME`` or ``cli`` (a login link)."""

    subject: str
    session_token: str | None = None

    def csrf_token(self) -> str:
        """The CSRF token for this session's forms (empty without a session)."""
        if self.session_token is None:
            return ""
        return hmac.new(self.session_token.encode(), b"relaykit-csrf", "sha256").hexdigest()

    def check_csrf(self, token: str) -> bool:
        """Whether a submitted form's token belongs to this session."""
        expected = self.csrf_token()
        return bool(expected) and hmac.compare_digest(expected, token)


class Access:
    """API keys, users and sessions on a store, with a clock for expiry."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def create_key(self, name: str) -> NewKey:
        """Make and store a new API key; the returned secret is the only copy.

        Raises ``ConfigurationError`` for a name holding a NUL character."""
        check_text(name, "the API key name", "create_key")
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKeyRecord(key_id, name, sha256_hex(secret), self.clock.now())
        await self.store.create_api_key(record)
        return NewKey(record, secret)

    async def check_key(self, secret: str) -> Principal | None:
        """The principal of a valid, unrevoked API key; None otherwise."""
        if not secret.startswith(KEY_PREFIX):
            return None
        key_id, sep, _ = secret[len(KEY_PREFIX) :].partition("_")
        if not sep or not key_id or not key_id.isprintable():  # no id holds a control char
            return None
        record = await self.store.get_api_key(key_id)
        # Hash and compare even for an unknown id, so timing does not tell ids apart.
        stored = record.key_hash if record is not None else sha256_hex("")
        valid = hmac.compare_digest(stored, sha256_hex(secret))
        if record is None or not valid or record.revoked_at is not None:
            return None
        return Principal(f"key:{record.id}")

    async def create_user(self, name: str, password: str) -> bool:
        """Store a user with a hashed password; False when the name is taken.

        Raises ``ConfigurationError`` for a name holding a NUL character."""
        check_text(name, "the user name", "create_user")
        user = UserRecord(name, hash_password(password), self.clock.now())
        return await self.store.create_user(user)

    async def check_user(self, name: str, password: str) -> bool:
        """Whether ``name``/``password`` are a user's."""
        # No user name holds a NUL (create_user refuses it; PostgreSQL cannot even look one up).
        user = None if "\x00" in name else await self.store.get_user(name)
        if user is None:
            hash_password(password)  # the same work as a real check: no user-name oracle
            return False
        return check_password(password, user.password_hash)

    async def start_session(self, subject: str) -> str:
        """A new session for ``subject``; returns the opaque token for the cookie."""
        return await self._token("session", subject, SESSION_SECONDS)

    async def login_link_token(self) -> str:
        """A single-use token that starts a session (``relaykit dev``/``serve`` print it)."""
        return await self._token("login", "cli", LOGIN_LINK_SECONDS)

    async def _token(self, kind: str, subject: str, ttl: float) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        await self.store.create_session(
            SessionRecord(sha256_hex(token), kind, subject, now, now + ttl)
        )
        return token

    async def session(self, token: str) -> Principal | None:
        """The principal of an unexpired session token."""
        found = await self.store.get_session(sha256_hex(token), now=self.clock.now())
        if found is None or found.kind != "session":
            return None
        return Principal(found.subject, token)

    async def use_login_token(self, token: str) -> str | None:
        """Consume a one-time login token; the new session's token, or None."""
        found = await self.store.take_session(sha256_hex(token), now=self.clock.now())
        if found is None or found.kind != "login":
            return None
        return await self.start_session(found.subject)

    async def end_session(self, token: str) -> None:
        """Log out."""
        await self.store.take_session(sha256_hex(token), now=self.clock.now())
