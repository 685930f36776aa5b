"""The dashboard's Connections page and OAuth2 routes over real HTTP requests (ASGI
transport, real SQLite file, a real token endpoint served by uvicorn): tokens are stored
encrypted and never shown, forms need their CSRF token, and the OAuth2 callback stores a
connection only for a fresh, unused state of the session that started the flow."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from tests.http_app import PASSWORD, make_client
from tests.localserver import serve
from tests.serving import free_port

import relaykit
from relaykit import Client, Context
from relaykit._base.secrets import SecretBox
from relaykit.errors import ConfigurationError
from relaykit.integrations.auth import Connections, Credentials, OAuth2
from relaykit.integrations.base import Integration
from relaykit.server import Access
from relaykit.server._connections import OAUTH_STATE_SECONDS
from relaykit.testing import ManualClock

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

KEY = SecretBox.generate_key()
TOKEN = "tok-SECRET-4f1c9a77e2"
ACCESS = "oauth-ACCESS-81b2c3d4"  # what the token endpoint hands out


@dataclass
class TokenEndpoint:
    url: str
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[TokenEndpoint]:
    seen: list[dict[str, str]] = []

    async def token(request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        seen.append(form)
        if form.get("code") != "good-code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(
            {
                "access_token": ACCESS,
                "token_type": "bearer",
                "expires_in": 3600,
                "refresh_token": "oauth-REFRESH-77",
            }
        )

    with serve(Starlette(routes=[Route("/token", token, methods=["POST"])])) as url:
        yield TokenEndpoint(f"{url}/token", seen)


def integration_classes(token_url: str) -> tuple[type[Integration], type[Integration]]:
    class Demo(Integration):
        name = "Demo Cloud"
        auth_modes = ("token", "oauth2")
        oauth = OAuth2(
            authorize_url="https://auth.demo.example/authorize",
            token_url=token_url,
            scopes=("read",),
            client_id="demo-client",
            client_secret="demo-client-secret",
        )

        def create_client(self, credentials: Credentials) -> Any:
            return self.http_client(base_url="https://api.demo.example")

    class Plain(Integration):
        name = "Plain API"

        def create_client(self, credentials: Credentials) -> Any:
            return self.http_client(base_url="https://api.plain.example")

    return Demo, Plain


@dataclass
class Site:
    client: Client
    clock: ManualClock
    http: httpx2.AsyncClient
    db: Path

    def browser(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=self.http._transport, base_url="http://testserver")

    async def stored(self, integration_id: str) -> Credentials | None:
        box = SecretBox([KEY])
        conns = Connections(self.client.store, clock=self.clock.now, box=lambda: box)
        return await conns.load(integration_id)


@asynccontextmanager
async def site(db: Path, token_url: str, *, mount: str = "") -> AsyncIterator[Site]:
    clock = ManualClock()
    client = make_client(f"sqlite:///{db}", clock=clock)
    demo_cls, plain_cls = integration_classes(token_url)

    @client.define_job(
        id="sync-demo",
        version="1.0.0",
        integrations={"demo": demo_cls(id="demo"), "plain": plain_cls(id="plain")},
    )
    async def sync_demo(payload: Any, io: relaykit.IO, ctx: Context) -> None:
        return None

    await client.open()
    access = Access(client.store, clock)
    assert await access.create_user("ada", PASSWORD)
    app: Any = client.asgi_app()
    if mount:  # mounted in a user's own ASGI app
        app = Starlette(routes=[Mount(mount, app=app)])
    transport = httpx2.ASGITransport(app=app)
    try:
        async with httpx2.AsyncClient(
            transport=transport, base_url=f"http://testserver{mount}"
        ) as http:
            yield Site(client, clock, http, db)
    finally:
        await client.close()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RELAYKIT_SECRET_KEY", KEY)
    # OAuth redirect URIs come from the configured public URL, never from the Host header
    monkeypatch.setenv("RELAYKIT_PUBLIC_URL", "http://testserver")
    return tmp_path / "relaykit.db"


def run(
    db: Path,
    endpoint: TokenEndpoint,
    scenario: Callable[[Site], Awaitable[None]],
    *,
    mount: str = "",
) -> None:
    async def go() -> None:
        async with site(db, endpoint.url, mount=mount) as s:
            await scenario(s)

    asyncio.run(go())


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, html
    return found.group(1)


async def _login(http: httpx2.AsyncClient) -> str:
    form = await http.get("/login")
    r = await http.post(
        "/login", data={"csrf": _csrf(form.text), "username": "ada", "password": PASSWORD}
    )
    assert r.status_code == 303
    return _csrf((await http.get("/connections")).text)


def _row(html: str, integration_id: str) -> str:
    found = re.search(rf'<tr data-integration="{integration_id}">(.*?)</tr>', html, re.S)
    assert found, html
    return found.group(1)


def _db_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_the_page_lists_declared_integrations_and_needs_a_session(
    db: Path, endpoint: TokenEndpoint
) -> None:
    async def scenario(s: Site) -> None:
        assert (await s.http.get("/connections")).status_code == 401
        await _login(s.http)
        page = (await s.http.get("/connections")).text
        assert 'href="/connections" class="here"' in page
        demo, plain = _row(page, "demo"), _row(page, "plain")
        assert "Demo Cloud" in demo and "token, oauth2" in demo and "not connected" in demo
        assert 'href="/oauth/demo/start"' in demo
        assert "Plain API" in plain and "/oauth/plain/start" not in plain
        assert 'type="password"' in plain and "Disconnect" not in plain

    run(db, endpoint, scenario)


def test_a_token_is_stored_encrypted_shown_as_connected_and_disconnected(
    db: Path, endpoint: TokenEndpoint
) -> None:
    async def scenario(s: Site) -> None:
        csrf = await _login(s.http)
        r = await s.http.post("/connections/plain/token", data={"csrf": csrf, "token": TOKEN})
        assert (r.status_code, r.headers["location"]) == (303, "/connections?connected=plain")
        stored = await s.stored("plain")
        assert stored is not None and stored.access_token == TOKEN
        assert TOKEN.encode() not in _db_bytes(s.db)
        page = await s.http.get(r.headers["location"])
        assert "plain connected" in page.text and TOKEN not in page.text
        row = _row(page.text, "plain")
        assert 'data-state="connected"' in row and "never" in row and "Disconnect" in row
        r = await s.http.post("/connections/plain/disconnect", data={"csrf": csrf})
        assert (r.status_code, r.headers["location"]) == (303, "/connections?disconnected=plain")
        assert await s.stored("plain") is None
        assert 'data-state="not-connected"' in _row(
            (await s.http.get("/connections")).text, "plain"
        )
        # Unknown integrations and empty tokens store nothing.
        r = await s.http.post("/connections/nope/token", data={"csrf": csrf, "token": TOKEN})
        assert r.status_code == 404
        r = await s.http.post("/connections/plain/token", data={"csrf": csrf, "token": " "})
        assert r.status_code == 400 and await s.stored("plain") is None

    run(db, endpoint, scenario)


def test_forms_without_the_csrf_token_change_nothing(db: Path, endpoint: TokenEndpoint) -> None:
    async def scenario(s: Site) -> None:
        assert (
            await s.http.post("/connections/plain/token", data={"csrf": "x", "token": TOKEN})
        ).status_code == 401
        csrf = await _login(s.http)
        for data in ({}, {"csrf": ""}, {"csrf": "0" * 64}):
            r = await s.http.post("/connections/plain/token", data={**data, "token": TOKEN})
            assert r.status_code == 403
        assert await s.stored("plain") is None
        await s.http.post("/connections/plain/token", data={"csrf": csrf, "token": TOKEN})
        r = await s.http.post("/connections/plain/disconnect", data={})
        assert r.status_code == 403
        stored = await s.stored("plain")
        assert stored is not None and stored.access_token == TOKEN

    run(db, endpoint, scenario)


def test_without_a_secret_key_the_page_says_so(
    db: Path, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RELAYKIT_SECRET_KEY")

    async def scenario(s: Site) -> None:
        csrf = await _login(s.http)
        page = await s.http.get("/connections")
        assert page.status_code == 200
        assert "RELAYKIT_SECRET_KEY is not set" in page.text and "Save token" not in page.text
        r = await s.http.post("/connections/plain/token", data={"csrf": csrf, "token": TOKEN})
        assert r.status_code == 400 and "RELAYKIT_SECRET_KEY is not set" in r.text
        assert await s.client.store.get_connection("plain") is None
        r = await s.http.get("/oauth/demo/start")
        assert r.status_code == 400 and "RELAYKIT_SECRET_KEY" in r.text

    run(db, endpoint, scenario)


async def _start(http: httpx2.AsyncClient) -> dict[str, str]:
    r = await http.get("/oauth/demo/start")
    assert r.status_code == 303, r.text
    url = urlsplit(r.headers["location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://auth.demo.example/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["client_id"] == "demo-client" and query["response_type"] == "code"
    assert query["redirect_uri"] == "http://testserver/oauth/demo/callback"
    assert len(query["state"]) >= 20
    return query


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_the_oauth_round_trip_stores_the_connection(db: Path, endpoint: TokenEndpoint) -> None:
    async def scenario(s: Site) -> None:
        assert (await s.http.get("/oauth/demo/start")).status_code == 401
        await _login(s.http)
        query = await _start(s.http)
        assert query["state"] not in _db_bytes(s.db).decode("latin-1")
        endpoint.requests.clear()
        r = await s.http.get(
            "/oauth/demo/callback", params={"code": "good-code", "state": query["state"]}
        )
        assert (r.status_code, r.headers["location"]) == (303, "/connections?connected=demo")
        (sent,) = endpoint.requests
        assert sent["grant_type"] == "authorization_code" and sent["code"] == "good-code"
        assert sent["redirect_uri"] == "http://testserver/oauth/demo/callback"
        assert _challenge(sent["code_verifier"]) == query["code_challenge"]
        stored = await s.stored("demo")
        assert stored is not None and stored.access_token == ACCESS
        assert stored.expires_at == pytest.approx(s.clock.now() + 3600)
        assert ACCESS.encode() not in _db_bytes(s.db)
        page = await s.http.get(r.headers["location"])
        assert "demo connected" in page.text and ACCESS not in page.text
        assert 'data-state="connected"' in _row(page.text, "demo")
        # The same state again: used already.
        again = await s.http.get(
            "/oauth/demo/callback", params={"code": "good-code", "state": query["state"]}
        )
        assert again.status_code == 400 and "used already" in again.text
        assert len(endpoint.requests) == 1

    run(db, endpoint, scenario)


def test_a_bad_missing_expired_or_foreign_state_stores_nothing(
    db: Path, endpoint: TokenEndpoint
) -> None:
    async def scenario(s: Site) -> None:
        await _login(s.http)
        endpoint.requests.clear()
        good = (await _start(s.http))["state"]
        for params in (
            {"code": "good-code"},
            {"code": "good-code", "state": ""},
            {"code": "good-code", "state": "not-the-state"},
        ):
            r = await s.http.get("/oauth/demo/callback", params=params)
            assert r.status_code == 400, params
        # Another integration's callback with this state, then the state is spent.
        r = await s.http.get("/oauth/plain/callback", params={"code": "good-code", "state": good})
        assert r.status_code == 400
        r = await s.http.get("/oauth/demo/callback", params={"code": "good-code", "state": good})
        assert r.status_code == 400
        # Expired.
        late = (await _start(s.http))["state"]
        s.clock.advance(OAUTH_STATE_SECONDS + 1)
        r = await s.http.get("/oauth/demo/callback", params={"code": "good-code", "state": late})
        assert r.status_code == 400 and "expired" in r.text
        # Started by another dashboard session.
        theirs = (await _start(s.http))["state"]
        async with s.browser() as other:
            await _login(other)
            r = await other.get(
                "/oauth/demo/callback", params={"code": "good-code", "state": theirs}
            )
            assert r.status_code == 400
        # The provider refused, or the code is bad: a clear page.
        refused = (await _start(s.http))["state"]
        r = await s.http.get(
            "/oauth/demo/callback", params={"error": "access_denied", "state": refused}
        )
        assert r.status_code == 400 and "refused the authorization (access_denied)" in r.text
        bad_code = (await _start(s.http))["state"]
        r = await s.http.get("/oauth/demo/callback", params={"code": "bad", "state": bad_code})
        assert r.status_code == 400 and "invalid_grant" in r.text
        assert [q["code"] for q in endpoint.requests] == ["bad"]
        assert await s.client.store.get_connection("demo") is None

    run(db, endpoint, scenario)


# -- the redirect URI comes from the configured public URL, never from the Host header ----------

FORGED = {"host": "evil.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https"}


async def _forged_round_trip(s: Site, endpoint: TokenEndpoint, expected: str) -> None:
    await _login(s.http)
    r = await s.http.get("oauth/demo/start", headers=FORGED)
    assert r.status_code == 303, r.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}
    assert query["redirect_uri"] == expected
    endpoint.requests.clear()
    params = {"code": "good-code", "state": query["state"]}
    r = await s.http.get("oauth/demo/callback", params=params, headers=FORGED)
    assert r.status_code == 303, r.text
    (sent,) = endpoint.requests
    assert sent["redirect_uri"] == expected  # the code exchange repeats the same URI
    assert await s.stored("demo") is not None


def test_a_forged_host_header_does_not_change_the_redirect_uri(
    db: Path, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYKIT_PUBLIC_URL", "https://ops.example.com/relaykit/")

    async def scenario(s: Site) -> None:
        await _forged_round_trip(
            s, endpoint, "https://ops.example.com/relaykit/oauth/demo/callback"
        )

    run(db, endpoint, scenario)


def test_a_public_url_without_a_path_gets_the_mount_point(
    db: Path, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYKIT_PUBLIC_URL", "https://ops.example.com")

    async def scenario(s: Site) -> None:
        await _forged_round_trip(
            s, endpoint, "https://ops.example.com/relaykit/oauth/demo/callback"
        )

    run(db, endpoint, scenario, mount="/relaykit")


def test_without_a_public_url_oauth_says_what_to_set_and_redirects_nowhere(
    db: Path, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RELAYKIT_PUBLIC_URL")

    async def scenario(s: Site) -> None:
        await _login(s.http)
        r = await s.http.get("/oauth/demo/start", headers=FORGED)
        assert r.status_code == 400 and "location" not in r.headers
        assert "RELAYKIT_PUBLIC_URL is not set" in r.text and "evil.example" not in r.text

    run(db, endpoint, scenario)


@pytest.mark.parametrize(
    "value",
    ["ops.example.com", "ftp://ops.example.com", "https://ops.example.com/?a=1", "https://"],
)
def test_a_malformed_public_url_is_refused_when_the_app_is_made(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYKIT_PUBLIC_URL", value)
    with pytest.raises(ConfigurationError, match="RELAYKIT_PUBLIC_URL must be the http"):
        make_client("sqlite:///unused.db").asgi_app()


def test_relaykit_serve_refuses_a_malformed_public_url_in_one_line(rk: Relaykit, app: str) -> None:
    done = rk(
        "serve", app, "--port", str(free_port()), env={"RELAYKIT_PUBLIC_URL": "ops.example.com"}
    )
    assert "RELAYKIT_PUBLIC_URL must be the http(s) URL" in done.error_line()
