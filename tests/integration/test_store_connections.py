"""Stored connections on both backends: the store methods, encryption at rest, and the
single-flight OAuth2 refresh against a real token endpoint (Starlette served by uvicorn).

Two stores opened on the same database are two sessions, exactly as two processes would be:
the refresh lock lives in the database, not in the process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.localserver import serve
from tests.pg import Backend

from relaykit import Credentials, OAuth2
from relaykit._base.secrets import SecretBox
from relaykit.integrations.auth import Connections, authorization_request, exchange_code
from relaykit.store._connections import ConnectionRecord

KEY = Fernet.generate_key().decode()


def _box() -> SecretBox:
    return SecretBox([KEY])


class TokenEndpoint:
    """An OAuth2 token endpoint that counts refreshes and answers slowly (so they overlap)."""

    def __init__(self) -> None:
        self.hits = 0
        self.forms: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/token", self.token, methods=["POST"])])

    async def token(self, request: Request) -> JSONResponse:
        self.hits += 1
        n = self.hits
        # application/x-www-form-urlencoded, parsed with the stdlib (no python-multipart)
        self.forms.append(dict(parse_qsl((await request.body()).decode())))
        await asyncio.sleep(0.3)
        return JSONResponse(
            {"access_token": f"access-{n}", "token_type": "bearer", "expires_in": 3600}
        )


@pytest.fixture
def endpoint() -> Iterator[tuple[TokenEndpoint, str]]:
    token = TokenEndpoint()
    with serve(token.app) as url:
        yield token, url


def test_put_get_list_delete(backend: Backend) -> None:
    async def go(store: Any) -> None:
        assert await store.get_connection("github") is None
        a = ConnectionRecord("github", "ciphertext-1", None, 10.0)
        b = ConnectionRecord("slack", "ciphertext-2", 500.5, 11.0)
        await store.put_connection(b)
        await store.put_connection(a)
        assert await store.get_connection("github") == a
        assert await store.list_connections() == [a, b]
        replaced = ConnectionRecord("github", "ciphertext-3", 99.0, 12.0)
        await store.put_connection(replaced)
        assert await store.get_connection("github") == replaced
        assert await store.delete_connection("github") is True
        assert await store.delete_connection("github") is False
        assert await store.list_connections() == [b]
        assert await store.refresh_connection("nosuch", _never, clock=time.time) is None

    asyncio.run(backend.run(go))


async def _never(row: ConnectionRecord) -> ConnectionRecord | None:
    raise AssertionError("refresh must not be called without a connection")


def test_credentials_are_encrypted_at_rest(backend: Backend) -> None:
    async def go(store: Any) -> Credentials | None:
        connections = Connections(store, clock=time.time, box=_box)
        await connections.save("github", Credentials("ghp_plaintext", refresh_token="r-secret"))
        return await connections.load("github")

    loaded = asyncio.run(backend.run(go))
    assert loaded is not None and loaded.access_token == "ghp_plaintext"
    [(stored,)] = backend.sql("SELECT credentials FROM connections")
    assert "ghp_plaintext" not in stored and "r-secret" not in stored
    assert _box().decrypt(stored, what="x")["access_token"] == "ghp_plaintext"


def test_two_concurrent_refreshers_hit_the_token_endpoint_once(
    backend: Backend, endpoint: tuple[TokenEndpoint, str]
) -> None:
    token, url = endpoint
    oauth = OAuth2(
        authorize_url=f"{url}/authorize",
        token_url=f"{url}/token",
        client_id="client-1",
        client_secret="client-secret",
    )
    expired = Credentials("access-0", refresh_token="refresh-0", expires_at=time.time() - 10)

    async def go() -> list[Credentials | None]:
        async with backend.opened() as first, backend.opened() as second:
            await Connections(first, clock=time.time, box=_box).save("slack", expired)
            refreshers = [Connections(s, clock=time.time, box=_box) for s in (first, second)]
            got = await asyncio.gather(*(r.fresh("slack", oauth, environ={}) for r in refreshers))
            later = await refreshers[1].fresh("slack", oauth, environ={})
            return [*got, later]

    results = asyncio.run(go())
    assert token.hits == 1
    assert [r.access_token if r else None for r in results] == ["access-1"] * 3
    assert all(r is not None and r.refresh_token == "refresh-0" for r in results)  # kept
    assert token.forms[0]["grant_type"] == "refresh_token"
    assert token.forms[0]["refresh_token"] == "refresh-0"


def test_a_failed_refresh_releases_the_lock(backend: Backend) -> None:
    async def go(store: Any) -> ConnectionRecord | None:
        await store.put_connection(ConnectionRecord("gh", "c1", 1.0, 1.0))

        async def boom(row: ConnectionRecord) -> ConnectionRecord | None:
            raise RuntimeError("token endpoint down")

        with pytest.raises(RuntimeError, match="token endpoint down"):
            await store.refresh_connection("gh", boom, clock=time.time)

        async def fine(row: ConnectionRecord) -> ConnectionRecord | None:
            return ConnectionRecord("gh", "c2", 2.0, 2.0)

        # Would poll forever (until the test timeout) if the first lock were still held.
        return await asyncio.wait_for(store.refresh_connection("gh", fine, clock=time.time), 5)

    assert asyncio.run(backend.run(go)) == ConnectionRecord("gh", "c2", 2.0, 2.0)


def test_authorization_code_with_pkce_against_a_real_token_endpoint(
    endpoint: tuple[TokenEndpoint, str],
) -> None:
    token, url = endpoint
    oauth = OAuth2(
        authorize_url=f"{url}/authorize",
        token_url=f"{url}/token",
        scopes=("read", "write"),
        client_id_env="WX_CLIENT_ID",
        client_secret_env="WX_CLIENT_SECRET",
    )
    environ = {"WX_CLIENT_ID": "client-7", "WX_CLIENT_SECRET": "shh"}
    request = authorization_request(oauth, "http://127.0.0.1:9/callback", environ)
    query = dict(parse_qsl(urlsplit(request.url).query))
    assert query["response_type"] == "code"
    assert query["client_id"] == "client-7"
    assert query["scope"] == "read write"
    assert query["state"] == request.state
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == create_s256_code_challenge(request.code_verifier)
    got = asyncio.run(exchange_code(oauth, request, "the-code", now=1000.0, environ=environ))
    assert (got.access_token, got.expires_at) == ("access-1", 4600.0)
    form = token.forms[0]
    assert form["grant_type"] == "authorization_code"
    assert form["code"] == "the-code"
    assert form["code_verifier"] == request.code_verifier
    assert form["redirect_uri"] == "http://127.0.0.1:9/callback"
