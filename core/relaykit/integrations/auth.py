"""Credentials of integrations: API tokens, stored connections and OAuth2.

An integration's credentials come, in this order, from an explicit ``token=``, from the
environment variable ``token_env`` names (read when a task runs, not when the job is defined),
or from the connection stored for the integration's id (``relaykit connect ID``), encrypted with
``RELAYKIT_SECRET_KEY``. An OAuth2 connection whose token has expired is refreshed once, by one
process, however many runs need it at the same moment (``Store.refresh_connection``).

OAuth2 goes through authlib's ``AsyncOAuth2Client``, whose httpx integration is built on httpx2
(checked with authlib 1.9; it imports ``httpx2`` and falls back to ``httpx`` only when httpx2 is
missing): authorization URLs with PKCE (S256), the code exchange and the refresh grant.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, final

from .._base.secrets import SecretBox
from ..errors import MissingConnection, NonRetriable
from ..store import Store
from ..store._connections import ConnectionRecord

if TYPE_CHECKING:
    # authlib (with joserfc and cryptography) and httpx2 take ~200 ms to import: they are
    # imported by the functions that talk OAuth2, so `import relaykit` does not load them.
    import httpx2
    from authlib.integrations.httpx_client import AsyncOAuth2Client

#: A token this close to its expiry (seconds) is refreshed before use.
EXPIRY_LEEWAY = 60.0


@final
@dataclass(frozen=True, slots=True)
class Credentials:
    """What ``Integration.create_client`` authenticates with. Tokens never appear in its repr."""

    access_token: str = field(repr=False)
    token_type: str = "bearer"  # noqa: S105 -- the RFC 6750 scheme name, not a secret
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    scope: str | None = None

    def secrets(self) -> frozenset[str]:
        """The secret strings in these credentials (to redact wherever they might leak)."""
        return frozenset(s for s in (self.access_token, self.refresh_token) if s)

    def expired(self, now: float, leeway: float = EXPIRY_LEEWAY) -> bool:
        """Whether the access token expires within ``leeway`` seconds of ``now``."""
        return self.expires_at is not None and self.expires_at - leeway <= now

    def to_dict(self) -> dict[str, Any]:
        """As a JSON object (encrypted before it is stored)."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "scope": self.scope,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Credentials:
        """From ``to_dict``'s object."""
        expires = data.get("expires_at")
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "bearer"),
            refresh_token=data.get("refresh_token"),
            expires_at=None if expires is None else float(expires),
            scope=data.get("scope"),
        )

    @classmethod
    def from_token_response(
        cls, token: Mapping[str, Any], now: float, previous: Credentials | None = None
    ) -> Credentials:
        """From an OAuth2 token endpoint's response (RFC 6749 §5.1) received at ``now``."""
        if not token.get("access_token"):
            raise NonRetriable("the OAuth2 token endpoint answered without an access_token")
        expires_in = token.get("expires_in")
        refresh = token.get("refresh_token") or (previous.refresh_token if previous else None)
        return cls(
            access_token=str(token["access_token"]),
            token_type=str(token.get("token_type") or "bearer"),
            refresh_token=refresh,
            expires_at=None if expires_in is None else now + float(expires_in),
            scope=token.get("scope"),
        )


@final
@dataclass(frozen=True, slots=True)
class OAuth2:
    """An OAuth2 provider (authorization code grant with PKCE, refresh tokens).

    ``client_id``/``client_secret`` are the OAuth app's; ``client_id_env``/``client_secret_env``
    name environment variables to read them from instead.
    """

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...] = ()
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    client_id_env: str | None = None
    client_secret_env: str | None = None
    token_response: Callable[[Mapping[str, Any], float], Mapping[str, Any]] | None = None
    """Rewrites a provider's non-standard token response (JSON, and the time it arrived)
    into a standard one, for the code exchange and every refresh (e.g. Slack's
    ``oauth.v2.access``)."""

    def client_credentials(self, environ: Mapping[str, str]) -> tuple[str, str | None]:
        """(client id, client secret), reading the environment variables when named."""
        cid = self.client_id or (environ.get(self.client_id_env) if self.client_id_env else None)
        if not cid:
            where = f" or set {self.client_id_env}" if self.client_id_env else ""
            raise MissingConnection(f"the OAuth2 client id is missing: pass client_id={where}")
        secret = self.client_secret or (
            environ.get(self.client_secret_env) if self.client_secret_env else None
        )
        return cid, secret


@final
@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """Where to send the user to authorize, and what to keep for the code exchange."""

    url: str
    state: str
    code_verifier: str = field(repr=False)
    redirect_uri: str


def _oauth_client(
    oauth: OAuth2,
    environ: Mapping[str, str],
    transport: httpx2.AsyncBaseTransport | None,
    redirect_uri: str | None = None,
) -> AsyncOAuth2Client:
    import httpx2
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    client_id, secret = oauth.client_credentials(environ)
    # No transport retries: the engine owns retries (the refresh runs inside a task).
    client = AsyncOAuth2Client(
        client_id=client_id,
        client_secret=secret,
        scope=" ".join(oauth.scopes) or None,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        transport=transport or httpx2.AsyncHTTPTransport(retries=0),
        timeout=30.0,
    )
    rewrite = oauth.token_response
    if rewrite is not None:

        def standard(response: httpx2.Response) -> httpx2.Response:
            # authlib's compliance hooks: the response is parsed after this returns
            fixed = rewrite(response.json(), time.time())
            return httpx2.Response(response.status_code, json=fixed, request=response.request)

        client.register_compliance_hook("access_token_response", standard)
        client.register_compliance_hook("refresh_token_response", standard)
    return client


def authorization_request(
    oauth: OAuth2, redirect_uri: str, environ: Mapping[str, str]
) -> AuthorizationRequest:
    """The authorization URL (with a PKCE S256 challenge and a random state)."""
    from authlib.common.security import generate_token

    verifier = generate_token(64)
    client = _oauth_client(oauth, environ, None, redirect_uri)
    url, state = client.create_authorization_url(oauth.authorize_url, code_verifier=verifier)
    return AuthorizationRequest(str(url), str(state), verifier, redirect_uri)


async def exchange_code(
    oauth: OAuth2,
    request: AuthorizationRequest,
    code: str,
    *,
    now: float,
    environ: Mapping[str, str],
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Credentials:
    """Trade an authorization code (and the PKCE verifier) for credentials."""
    from authlib.integrations.httpx_client import OAuthError

    async with _oauth_client(oauth, environ, transport, request.redirect_uri) as client:
        try:
            token = await client.fetch_token(
                oauth.token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=request.code_verifier,
            )
        except OAuthError as exc:
            raise NonRetriable(f"the OAuth2 code exchange was refused: {exc.error}") from None
    return Credentials.from_token_response(token, now)


async def refresh_credentials(
    oauth: OAuth2,
    credentials: Credentials,
    *,
    now: float,
    environ: Mapping[str, str],
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Credentials:
    """New credentials from the refresh token (RFC 6749 §6)."""
    if not credentials.refresh_token:
        raise MissingConnection("the stored OAuth2 token expired and has no refresh token")
    from authlib.integrations.httpx_client import OAuthError

    async with _oauth_client(oauth, environ, transport) as client:
        try:
            token = await client.refresh_token(
                oauth.token_url, refresh_token=credentials.refresh_token
            )
        except OAuthError as exc:
            raise NonRetriable(f"the OAuth2 refresh was refused: {exc.error}") from None
    return Credentials.from_token_response(token, now, previous=credentials)


@final
class Connections:
    """Stored connections of one store: encrypted on the way in, decrypted on the way out."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float],
        box: Callable[[], SecretBox] = SecretBox.from_env,
    ) -> None:
        self._store = store
        self._clock = clock
        self._box = box

    async def save(self, integration_id: str, credentials: Credentials) -> None:
        """Store (or replace) the credentials of ``integration_id``."""
        await self._store.put_connection(self._record(integration_id, credentials))

    async def load(self, integration_id: str) -> Credentials | None:
        """The stored credentials of ``integration_id``, or None."""
        row = await self._store.get_connection(integration_id)
        return None if row is None else self._open(row)

    async def delete(self, integration_id: str) -> bool:
        """Forget the connection; True when there was one."""
        return await self._store.delete_connection(integration_id)

    async def rotate(self) -> int:
        """Re-encrypt every connection with the first key; return how many there were."""
        box = self._box()
        rows = await self._store.list_connections()
        for row in rows:
            await self._store.put_connection(
                ConnectionRecord(
                    row.integration_id, box.rotate(row.credentials), row.expires_at, row.updated_at
                )
            )
        return len(rows)

    async def fresh(
        self,
        integration_id: str,
        oauth: OAuth2 | None,
        *,
        environ: Mapping[str, str],
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> Credentials | None:
        """The credentials of ``integration_id``, refreshed first when they have expired
        (single flight: one refresh across every process; the others use its result)."""
        current = await self.load(integration_id)
        if current is None or oauth is None or not current.expired(self._clock()):
            return current

        async def refresh(row: ConnectionRecord) -> ConnectionRecord | None:
            seen = self._open(row)
            now = self._clock()
            if not seen.expired(now):  # another refresher won the race: use its token
                return None
            new = await refresh_credentials(
                oauth, seen, now=now, environ=environ, transport=transport
            )
            return self._record(integration_id, new)

        row = await self._store.refresh_connection(integration_id, refresh, clock=self._clock)
        return None if row is None else self._open(row)

    def _record(self, integration_id: str, credentials: Credentials) -> ConnectionRecord:
        return ConnectionRecord(
            integration_id,
            self._box().encrypt(credentials.to_dict()),
            credentials.expires_at,
            self._clock(),
        )

    def _open(self, row: ConnectionRecord) -> Credentials:
        data = self._box().decrypt(row.credentials, what=f"the connection {row.integration_id!r}")
        return Credentials.from_dict(data)


def redact_json(text: str | None, secrets: frozenset[str]) -> str | None:
    """``text`` with every secret string replaced by ``[redacted]``."""
    if text is None or not secrets:
        return text
    for secret in secrets:
        text = text.replace(json.dumps(secret)[1:-1], "[redacted]")
    return text
