"""``POST /webhooks/{integration_id}/{source_id}`` as a vendor drives it: httpx2 over the ASGI
transport against the real app on a real SQLite file, with an integration whose
``handle_webhook`` checks a shared secret stored (encrypted) with ``client.webhook_secrets``."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.fernet import Fernet

import relaykit
from relaykit import (
    Client,
    Context,
    Credentials,
    Integration,
    WebhookEvent,
    WebhookRejected,
    WebhookRequest,
    WebhookResponse,
    WebhookSecrets,
    event_trigger,
)

SECRET = "s3cret-shared-with-the-vendor"


class Hooks(Integration):
    """Deliveries carry ``x-token: <secret>`` and ``x-id``; the body is a JSON object."""

    def create_client(self, credentials: Credentials) -> Any:
        return self.http_client(base_url="https://hooks.invalid")

    async def handle_webhook(
        self, request: WebhookRequest, secrets: WebhookSecrets
    ) -> WebhookResponse:
        expected = await secrets.get("token")
        given = request.headers.get("x-token", "")
        if expected is None or not hmac.compare_digest(expected, given):
            raise WebhookRejected(401, "bad token")
        try:
            payload = json.loads(request.body)
        except ValueError:
            raise WebhookRejected(400, "the body is not JSON") from None
        event = WebhookEvent(
            id=f"hooks:{request.headers['x-id']}",
            name=f"hooks.{payload['kind']}",
            payload={"source": request.source_id, **payload},
            source="hooks",
        )
        return WebhookResponse(200, {"ok": True}, (event,))


class Plain(Integration):
    """An integration without webhooks (the default ``handle_webhook``)."""

    def create_client(self, credentials: Credentials) -> Any:
        return self.http_client(base_url="https://plain.invalid")


Scenario = Callable[[Client, httpx2.AsyncClient], Awaitable[None]]


def make_client(url: str) -> Client:
    client = Client(id="webhooks", database_url=url, max_payload_bytes=2048)
    hooks, plain = Hooks("hooks", token="unused"), Plain("plain", token="unused")

    @client.define_job(
        id="on-ping",
        version="1.0.0",
        trigger=event_trigger("hooks.ping", source="hooks"),
        integrations={"hooks": hooks, "plain": plain},
    )
    async def on_ping(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return payload

    return client


@asynccontextmanager
async def served(url: str) -> AsyncIterator[tuple[Client, httpx2.AsyncClient]]:
    client = make_client(url)
    await client.open()
    await client.webhook_secrets("hooks", "acme/widgets").set("token", SECRET)
    transport = httpx2.ASGITransport(app=client.asgi_app())
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield client, http
    finally:
        await client.close()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RELAYKIT_SECRET_KEY", Fernet.generate_key().decode())
    return f"sqlite:///{tmp_path / 'relaykit.db'}"


def run(url: str, scenario: Scenario) -> None:
    async def go() -> None:
        async with served(url) as (client, http):
            await scenario(client, http)

    asyncio.run(go())


def _error(response: httpx2.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    message: str = response.json()["error"]["message"]
    return message


async def _nothing_stored(client: Client) -> None:
    assert await client.store.list_events() == []
    assert await client.store.list_runs() == []


def test_an_unknown_integration_or_one_without_webhooks_is_404(url: str) -> None:
    async def scenario(client: Client, http: httpx2.AsyncClient) -> None:
        body = {"kind": "ping"}
        assert "nope" in _error(await http.post("/webhooks/nope/x", json=body), 404)
        message = _error(await http.post("/webhooks/plain/x", json=body), 404)
        assert "does not receive webhooks" in message
        await _nothing_stored(client)

    run(url, scenario)


def test_a_rejected_delivery_is_401_or_400_and_stores_nothing(url: str) -> None:
    async def scenario(client: Client, http: httpx2.AsyncClient) -> None:
        path = "/webhooks/hooks/acme/widgets"
        good = {"x-token": SECRET, "x-id": "1"}
        bad = {"x-token": "guess", "x-id": "1"}
        assert _error(await http.post(path, json={"kind": "ping"}, headers=bad), 401)
        # No secret stored for another source: nothing can verify it.
        other = "/webhooks/hooks/acme/other"
        assert _error(await http.post(other, json={"kind": "ping"}, headers=good), 401)
        assert _error(await http.post(path, content=b"{not json", headers=good), 400)
        await _nothing_stored(client)

    run(url, scenario)


def test_a_body_over_the_limit_is_413(url: str) -> None:
    async def scenario(client: Client, http: httpx2.AsyncClient) -> None:
        headers = {"x-token": SECRET, "x-id": "1"}
        big = {"kind": "ping", "pad": "x" * 4096}
        r = await http.post("/webhooks/hooks/acme/widgets", json=big, headers=headers)
        assert "over the limit" in _error(r, 413)
        await _nothing_stored(client)

    run(url, scenario)


def test_an_accepted_delivery_is_stored_once_and_starts_the_triggered_job(url: str) -> None:
    async def scenario(client: Client, http: httpx2.AsyncClient) -> None:
        headers = {"x-token": SECRET, "x-id": "d-1"}
        for answer in ({"ok": True}, {"ok": True, "duplicate": True}):
            # a vendor's redelivery has the same id: stored nothing, and said so
            r = await http.post(
                "/webhooks/hooks/acme/widgets", json={"kind": "ping"}, headers=headers
            )
            assert r.status_code == 200, r.text
            assert r.json() == answer
        events = await client.store.list_events()
        assert [(e.id, e.name, e.source) for e in events] == [("hooks:d-1", "hooks.ping", "hooks")]
        runs = await client.store.list_runs(job_id="on-ping")
        assert len(runs) == 1
        await client.worker(exit_when_idle=True).run()
        result = await client.get_run(runs[0].id)
        assert result.status == "succeeded", result
        assert result.output == {"source": "acme/widgets", "kind": "ping"}

    run(url, scenario)


def test_the_secrets_are_stored_encrypted(url: str, tmp_path: Path) -> None:
    async def scenario(client: Client, http: httpx2.AsyncClient) -> None:
        assert await client.webhook_secrets("hooks", "acme/widgets").get("token") == SECRET
        assert await client.webhook_secrets("hooks", "acme/else").get("token") is None

    run(url, scenario)
    assert SECRET.encode() not in (tmp_path / "relaykit.db").read_bytes()
