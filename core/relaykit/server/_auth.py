"""Secrets of the HTTP layer: API keys, passwords, sessions, one-time login links, CSRF tokens,
and the login throttle.

An API key reads ``rk_<id>_<secret>``: the id finds the stored record, and the SHA-256 of the
whole key is compared with the stored hash in constant time. Session and login tokens are 32
random bytes; the store keeps only their SHA-256. A session opened with an API key lasts only
as long as the key: once it is revoked, the session's next request finds it ended. Passwords
are hashed with scrypt, in a worker thread (tens of milliseconds of CPU that would otherwise
stall every other request on the event loop). A form's CSRF token is an HMAC of the session
token, so it is tied to the session, and a page never shows the session token itself (the
cookie is HttpOnly).

**Login throttle.** Each login attempt first claims a slot, for its account (the user name, or
the API key's id) and for its client address: ``LOGIN_ATTEMPTS_PER_ACCOUNT`` and
``LOGIN_ATTEMPTS_PER_ADDRESS`` slots, each held for ``LOGIN_WINDOW_SECONDS``. A successful login
gives its slots back; a failed one keeps them until they expire. With every slot of either
taken the attempt is refused *before* the password is checked (the right password too), for
as long as the oldest slot has left. Slots are rows of the store's ``sessions`` table (kind
``login-throttle``, under a token no cookie can hash to), so every process sharing the store
counts together with no migration, and the table's primary key makes a claim atomic: two
attempts racing for a slot cannot both get it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from typing import Final

from .._base.clock import Clock
from .._base.names import check_text
from ..store import Store
from ..store.access import ApiKeyRecord, SessionRecord, UserRecord

KEY_PREFIX: Final = "rk_"
SESSION_SECONDS: Final = 12 * 3600.0
LOGIN_LINK_SECONDS: Final = 15 * 60.0
#: Login attempts an account may fail within ``LOGIN_WINDOW_SECONDS``.
LOGIN_ATTEMPTS_PER_ACCOUNT: Final = 5
#: Login attempts one client address may fail within ``LOGIN_WINDOW_SECONDS`` (any accounts).
LOGIN_ATTEMPTS_PER_ADDRESS: Final = 20
#: How long a failed login attempt counts (seconds).
LOGIN_WINDOW_SECONDS: Final = 5 * 60.0
_THROTTLE_KIND: Final = "login-throttle"
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
class LoginSlots:
    """The throttle slots one login attempt holds (``Access.claim_login``)."""

    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Throttled:
    """A login attempt refused by the throttle: retry after ``seconds``."""

    seconds: float


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
        hashed = await asyncio.to_thread(hash_password, password)
        return await self.store.create_user(UserRecord(name, hashed, self.clock.now()))

    async def check_user(self, name: str, password: str) -> bool:
        """Whether ``name``/``password`` are a user's (the hash is checked in a thread)."""
        # No user name holds a NUL (create_user refuses it; PostgreSQL cannot even look one up).
        user = None if "\x00" in name else await self.store.get_user(name)
        if user is None:
            # the same work as a real check: no user-name oracle
            await asyncio.to_thread(hash_password, password)
            return False
        return await asyncio.to_thread(check_password, password, user.password_hash)

    async def claim_login(self, accounts: list[str], address: str) -> LoginSlots | Throttled:
        """Claim a throttle slot for each account and for ``address`` (see the module
        docstring): the slots, or ``Throttled`` with the seconds until one frees (nothing
        held then)."""
        claimed: list[str] = []
        limits = [(f"account:{a}", LOGIN_ATTEMPTS_PER_ACCOUNT) for a in accounts]
        for subject, limit in [*limits, (f"address:{address}", LOGIN_ATTEMPTS_PER_ADDRESS)]:
            found = await self._claim_slot(subject, limit)
            if isinstance(found, Throttled):
                await self.release_login(LoginSlots(tuple(claimed)))
                return found
            claimed.append(found)
        return LoginSlots(tuple(claimed))

    async def release_login(self, slots: LoginSlots) -> None:
        """Give back a successful attempt's slots: only failures count."""
        for token in slots.tokens:
            await self.store.take_session(token, now=self.clock.now())

    async def _claim_slot(self, subject: str, limit: int) -> str | Throttled:
        now = self.clock.now()
        soonest = math.inf
        for i in range(limit):
            # "kind:hex:i" is no SHA-256 hex digest: no cookie or link token maps to it
            token = f"{_THROTTLE_KIND}:{sha256_hex(subject)}:{i}"
            held = await self.store.get_session(token, now=now)
            if held is None:
                # the subject column says only what the slot counts (a user name may be anything)
                label = subject.partition(":")[0]
                record = SessionRecord(
                    token, _THROTTLE_KIND, label, now, now + LOGIN_WINDOW_SECONDS
                )
                try:
                    await self.store.create_session(record)
                    return token
                except Exception:
                    # Another attempt took the slot first (each backend names a duplicate key
                    # its own way, so the row decides); no row: a real failure, raised.
                    held = await self.store.get_session(token, now=now)
                    if held is None:
                        raise
            soonest = min(soonest, held.expires_at - now)
        return Throttled(max(soonest, 0.0))

    async def start_session(self, subject: str) -> str:
        """A new session for ``subject``; returns the opaque token for the cookie."""
        return await self._token("session", subject, SESSION_SECONDS)

    async def login_link_token(self) -> str:
        """A single-use token that starts a session (``relaykit dev``/``serve`` print it)."""
        return await self._token("login", "cli", LOGIN_LINK_SECONDS)

    async def login_link_pending(self, token: str) -> bool:
        """Whether ``token`` is a login link's that is neither used nor expired (a restarted
        ``relaykit dev`` prints the same link again while it is)."""
        found = await self.store.get_session(sha256_hex(token), now=self.clock.now())
        return found is not None and found.kind == "login"

    async def _token(self, kind: str, subject: str, ttl: float) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        await self.store.create_session(
            SessionRecord(sha256_hex(token), kind, subject, now, now + ttl)
        )
        return token

    async def session(self, token: str) -> Principal | None:
        """The principal of an unexpired session token; a session opened with an API key
        that has since been revoked (or deleted) is ended here and gives None."""
        found = await self.store.get_session(sha256_hex(token), now=self.clock.now())
        if found is None or found.kind != "session":
            return None
        kind, _, key_id = found.subject.partition(":")
        if kind == "key":
            key = await self.store.get_api_key(key_id)
            if key is None or key.revoked_at is not None:
                await self.end_session(token)
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
