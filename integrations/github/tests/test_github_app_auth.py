"""``GitHub`` as a GitHub App: a JWT signed with the app's key is exchanged for an installation
token (cached until a minute before it expires), which authenticates the API calls. Jobs run
with ``client.run`` on a real SQLite file, their requests replayed from cassettes through real
httpx2; a transport around the real one keeps each request's Authorization header."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import relaykit
from relaykit import Client, Context, MissingConnection, RunResult
from relaykit.testing import ManualClock
from relaykit_github import GitHub
from relaykit_github._app import JWT_BACKDATE, JWT_LIFETIME, clear_token_cache
from tests.make_github_cassettes import INSTALLATION_ID

APP_ID = 123456
START = 1_700_000_000.0  # the cassettes' first token expires an hour later
REPO = {"owner": "octocat", "repo": "Hello-World"}
# What replay hands out as the installation token (the cassettes hold GitHub's scrubbed
# `<redacted>`): real-looking, so a leak would be found.
INSTALLATION_TOKENS = (
    "ghs_" + "1stInstallationToken0123456789ab",
    "ghs_" + "2ndInstallation9876543210zyxw",
)

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = _KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.TraditionalOpenSSL,  # what GitHub's .pem download holds
    serialization.NoEncryption(),
).decode()
KEY_BODY = "".join(PRIVATE_PEM.splitlines()[1:-1])


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Every test starts with no cached installation token (the cache is per process)."""
    clear_token_cache()
    yield
    clear_token_cache()


class Recording(httpx2.AsyncBaseTransport):
    """The real transport (which vcrpy replays), keeping each request's Authorization."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport(retries=0)
        self.sent: list[tuple[str, str, str]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        auth = request.headers.get("authorization", "")
        self.sent.append((request.method, request.url.path, auth))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def hand_out_tokens(cassette: Any) -> None:
    """Replay GitHub's installation tokens as real-looking ones (one per exchange)."""
    exchanges = [r for q, r in cassette.data if q.uri.endswith("/access_tokens")]
    for response, token in zip(exchanges, INSTALLATION_TOKENS, strict=False):
        body = response["body"]["string"]  # vcrpy loads the bodies as bytes
        response["body"]["string"] = body.replace(b'"<redacted>"', json.dumps(token).encode(), 1)


def make_client(tmp_path: Path, clock: ManualClock, github: GitHub) -> Client:
    client = Client(id="gh", database_url=f"sqlite:///{tmp_path / 'relaykit.db'}", clock=clock)

    @client.define_job(id="two-reads", version="1.0.0", integrations={"github": github})
    async def two_reads(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        first = await io.github.get_issue("first", **REPO, issue_number=1347)
        if payload.get("wait"):
            await io.wait("an-hour", seconds=payload["wait"])
        second = await io.github.get_issue("second", **REPO, issue_number=1347)
        return [first["number"], second["number"]]

    return client


def run_job(client: Client, payload: dict[str, Any]) -> RunResult:
    async def go() -> RunResult:
        async with client:
            return await client.run("two-reads", payload)

    return asyncio.run(go())


def app(transport: httpx2.AsyncBaseTransport | None = None, **kwargs: Any) -> GitHub:
    options: dict[str, Any] = {"app_id": APP_ID, "installation_id": INSTALLATION_ID}
    return GitHub(transport=transport, **(options | kwargs))


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verified_claims(authorization: str) -> dict[str, Any]:
    """The JWT's claims, after checking its header and RS256 signature with the public key."""
    scheme, token = authorization.split(" ", 1)
    assert scheme == "Bearer"
    header, claims, signature = token.split(".")
    assert json.loads(_b64(header)) == {"alg": "RS256", "typ": "JWT"}
    _KEY.public_key().verify(  # raises InvalidSignature on a bad signature
        _b64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    value: dict[str, Any] = json.loads(_b64(claims))
    return value


def assert_no_secret(result: RunResult, db: Path, recording: Recording) -> None:
    """Neither the key, nor a JWT, nor an installation token is in the result or the database."""
    jwts = [auth.split(" ", 1)[1] for _, path, auth in recording.sent if "access_tokens" in path]
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    shown = repr(result) + json.dumps(result.output) + json.dumps(result.error)
    for secret in [KEY_BODY[:64], KEY_BODY[-64:], *jwts, *INSTALLATION_TOKENS]:
        assert secret not in shown
        assert secret.encode() not in stored
    for task in result.tasks:
        assert "private_key" not in repr(task)


@pytest.mark.vcr
def test_two_tasks_share_one_installation_token(cassette: Any, tmp_path: Path) -> None:
    hand_out_tokens(cassette)
    recording = Recording()
    clock = ManualClock(start=START)
    result = run_job(make_client(tmp_path, clock, app(recording, private_key=PRIVATE_PEM)), {})
    assert result.status == "succeeded", result.error
    assert result.output == [1347, 1347]
    assert cassette.play_count == 3  # one exchange, two API calls
    (exchange, first, second) = recording.sent
    assert exchange[:2] == ("POST", f"/app/installations/{INSTALLATION_ID}/access_tokens")
    claims = verified_claims(exchange[2])
    assert claims == {
        "iat": int(START) - JWT_BACKDATE,
        "exp": int(START) + JWT_LIFETIME,
        "iss": str(APP_ID),
    }
    assert claims["iat"] == START - 60 and claims["exp"] == START + 9 * 60
    # Both API calls carry the installation token, not the JWT.
    assert first == (
        "GET",
        "/repos/octocat/Hello-World/issues/1347",
        f"Bearer {INSTALLATION_TOKENS[0]}",
    )
    assert second[2] == first[2]
    assert_no_secret(result, tmp_path / "relaykit.db", recording)


@pytest.mark.vcr
def test_the_installation_token_is_refreshed_before_it_expires(
    cassette: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hand_out_tokens(cassette)
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", PRIVATE_PEM)  # the default key variable
    recording = Recording()
    clock = ManualClock(start=START)
    # The durable wait moves the run's clock 59.5 minutes on: the first token (an hour) is
    # within a minute of its expiry, so the second task gets a new one with a new JWT.
    result = run_job(make_client(tmp_path, clock, app(recording)), {"wait": 59 * 60 + 30})
    assert result.status == "succeeded", result.error
    assert cassette.play_count == 4
    methods = [(method, path.rsplit("/", 1)[-1]) for method, path, _ in recording.sent]
    assert methods == [("POST", "access_tokens"), ("GET", "1347")] * 2
    first_jwt, second_jwt = (verified_claims(recording.sent[i][2]) for i in (0, 2))
    assert second_jwt["iat"] - first_jwt["iat"] >= 59 * 60 + 30
    assert recording.sent[1][2] == f"Bearer {INSTALLATION_TOKENS[0]}"
    assert recording.sent[3][2] == f"Bearer {INSTALLATION_TOKENS[1]}"
    assert_no_secret(result, tmp_path / "relaykit.db", recording)


def test_a_cached_token_is_kept_until_a_minute_before_it_expires(
    tmp_path: Path,
) -> None:
    # No cassette: a mock GitHub answers the exchange and counts it.
    exchanges: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/access_tokens"):
            exchanges.append(request.url.path)
            expires = "2023-11-14T23:13:20Z"  # START + 1 h
            return httpx2.Response(
                201, json={"token": INSTALLATION_TOKENS[0], "expires_at": expires}
            )
        return httpx2.Response(200, json={"number": 1347})

    github = app(httpx2.MockTransport(handler), private_key=PRIVATE_PEM)
    for wait, expected in ((58 * 60, 1), (59 * 60 + 1, 2)):
        exchanges.clear()
        clear_token_cache()
        clock = ManualClock(start=START)  # the first task's token expires an hour later
        result = run_job(make_client(tmp_path / str(wait), clock, github), {"wait": wait})
        assert result.status == "succeeded", result.error
        assert len(exchanges) == expected, wait


def test_a_missing_app_id_or_key_names_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_APP_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("MY_APP_KEY", raising=False)

    async def creds(github: GitHub) -> Any:
        return await github.credentials()

    with pytest.raises(MissingConnection) as no_key:
        asyncio.run(creds(app()))
    assert "private_key=" in str(no_key.value)
    assert "GITHUB_APP_PRIVATE_KEY" in str(no_key.value)
    assert no_key.value.integration_id == "github"

    with pytest.raises(MissingConnection, match="MY_APP_KEY"):
        asyncio.run(creds(app(private_key_env="MY_APP_KEY")))

    with pytest.raises(MissingConnection) as no_app:
        asyncio.run(creds(GitHub(installation_id=1, private_key=PRIVATE_PEM)))
    assert "app_id=" in str(no_app.value)
    assert "installation_id=" not in str(no_app.value)

    with pytest.raises(MissingConnection, match="installation_id="):
        asyncio.run(creds(GitHub(app_id=APP_ID, private_key=PRIVATE_PEM)))

    with pytest.raises(ValueError, match="not both"):
        GitHub(token="t", app_id=APP_ID)

    # In a run, the task waits for credentials like any integration without a connection (the
    # core's MissingConnection rule), its error saying what to set; the key is not shown.
    clock = ManualClock(start=START)
    no_id = GitHub(installation_id=1, private_key=PRIVATE_PEM)
    result = run_job(make_client(tmp_path, clock, no_id), {})
    assert result.status == "waiting_for_connection"
    (task,) = result.tasks
    assert task.error is not None and "app_id=" in task.error["message"]
    assert KEY_BODY[:64] not in repr(result)


def test_a_bad_key_or_a_rejected_jwt_fails_without_showing_either(tmp_path: Path) -> None:
    sent: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.headers["authorization"])
        return httpx2.Response(
            401,
            json={"message": "A JSON web token could not be decoded", "documentation_url": "x"},
        )

    clock = ManualClock(start=START)
    github = app(httpx2.MockTransport(handler), private_key=PRIVATE_PEM)
    result = run_job(make_client(tmp_path / "a", clock, github), {})
    assert result.status == "failed"
    text = repr(result) + json.dumps(result.error)
    assert "401" in text
    assert sent and all(auth.split(" ", 1)[1] not in text for auth in sent)
    assert result.tasks[0].attempts == 1  # a 401 is not retried

    not_a_key = "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n"
    result = run_job(make_client(tmp_path / "b", clock, app(private_key=not_a_key)), {})
    assert result.status == "failed"
    assert "not a PEM RSA private key" in json.dumps(result.error)
    assert "bm90IGEga2V5" not in repr(result) + json.dumps(result.error)
