"""Hostile input over HTTP, on SQLite and PostgreSQL (the ``db_url`` fixture): JSON nested
thousands of levels deep and NUL characters in names and ids get a JSON 4xx (or the login form
again), never a 500, and store nothing. httpx2 over the ASGI transport against the real app;
the transport re-raises any exception the app lets escape, so a 500 fails the test loudly.

A NUL *inside a JSON string* is legitimate (it travels as the escape ``\\u0000``): it
round-trips on both backends.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from tests.http_app import PASSWORD, make_client

from relaykit import Client
from relaykit.server import Access

DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 3000 + "1" + "}" * 3000


@dataclass
class Site:
    client: Client
    http: httpx2.AsyncClient
    auth: dict[str, str]

    async def nothing_stored(self) -> None:
        store = self.client.store
        assert await store.list_events() == []
        assert await store.list_runs() == []


@asynccontextmanager
async def site(url: str) -> AsyncIterator[Site]:
    client = make_client(url)
    await client.open()
    access = Access(client.store, client.clock)
    key = await access.create_key("bad-input")
    assert await access.create_user("ada", PASSWORD)
    transport = httpx2.ASGITransport(app=client.asgi_app())
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Site(client, http, {"Authorization": f"Bearer {key.secret}"})
    finally:
        await client.close()


def run(url: str, scenario: Callable[[Site], Awaitable[None]]) -> None:
    async def go() -> None:
        async with site(url) as s:
            await scenario(s)

    asyncio.run(go())


def _error(response: httpx2.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert "\n" not in message
    return message


@pytest.mark.parametrize("deep", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_json_is_a_400_on_every_api_route_and_stores_nothing(
    db_url: str, deep: str
) -> None:
    async def scenario(s: Site) -> None:
        h = {**s.auth, "content-type": "application/json"}
        for method, path, body in (
            ("POST", "/api/v1/events", f'{{"name": "user.created", "payload": {deep}}}'),
            ("POST", "/api/v1/events", deep),  # the body itself
            ("POST", "/api/v1/jobs/hello/runs", f'{{"payload": {deep}}}'),
            ("PUT", "/api/v1/kv/job/hello/deep", f'{{"value": {deep}}}'),
        ):
            r = await s.http.request(method, path, content=body, headers=h)
            message = _error(r, 400, "json_too_deep")
            assert "more than 200 levels deep" in message, (path, message)
        await s.nothing_stored()
        assert await s.client.store.kv_get("job:hello", "deep") is None

    run(db_url, scenario)


def test_json_at_the_nesting_limit_is_accepted(db_url: str) -> None:
    async def scenario(s: Site) -> None:
        # The body's object is one level: its payload may nest 199 more.
        payload = "[" * 199 + "]" * 199
        r = await s.http.post(
            "/api/v1/events",
            content=f'{{"name": "nested", "payload": {payload}}}',
            headers={**s.auth, "content-type": "application/json"},
        )
        assert r.status_code == 201, r.text
        stored = await s.client.store.list_events()
        assert [e.name for e in stored] == ["nested"]

    run(db_url, scenario)


async def _login(http: httpx2.AsyncClient, **fields: str) -> httpx2.Response:
    form = await http.get("/login")
    found = re.search(r'name="csrf" value="([^"]*)"', form.text)
    assert found, form.text
    return await http.post("/login", data={"csrf": found.group(1), **fields})


def test_the_dashboard_test_run_form_refuses_deep_json_with_its_page(db_url: str) -> None:
    async def scenario(s: Site) -> None:
        assert (await _login(s.http, username="ada", password=PASSWORD)).status_code == 303
        page = await s.http.get("/jobs/hello")
        csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert csrf
        for deep in (DEEP_ARRAY, DEEP_OBJECT):
            r = await s.http.post("/jobs/hello/test", data={"csrf": csrf.group(1), "payload": deep})
            assert r.status_code == 400, r.text[:300]
            assert "more than 200 levels deep" in r.text
        await s.nothing_stored()

    run(db_url, scenario)


def test_nul_characters_in_names_and_ids_are_4xx_not_500(db_url: str) -> None:
    async def scenario(s: Site) -> None:
        h = s.auth
        r = await s.http.post("/api/v1/events", json={"name": "user\x00created"}, headers=h)
        assert "name" in _error(r, 422, "invalid_body")
        r = await s.http.post("/api/v1/events", json={"name": "x", "id": "a\x00b"}, headers=h)
        assert "id" in _error(r, 422, "invalid_body")
        for path in (
            "/api/v1/runs/run%00x",
            "/api/v1/events/evt%00x",
            "/api/v1/jobs/hel%00lo",
            "/api/v1/kv/job/hel%00lo/k",
            "/api/v1/kv/job/hello/k%00ey",
            "/api/v1/runs?job=hel%00lo",
        ):
            r = await s.http.get(path, headers=h)
            assert r.status_code in (200, 404), (path, r.text)
            if r.status_code == 200:  # a filter nothing can match
                assert r.json()["data"] == []
        for path in ("/api/v1/runs/run%00x/cancel", "/api/v1/runs/run%00x/replay"):
            _error(await s.http.post(path, headers=h), 404, "not_found")
        r = await s.http.put("/api/v1/kv/job/hello/k%00ey", json={"value": 1}, headers=h)
        _error(r, 404, "not_found")
        # A webhook source id with a NUL: no source can have it.
        r = await s.http.post("/webhooks/hooks/acme%00widgets", json={})
        assert r.status_code == 404
        await s.nothing_stored()

    run(db_url, scenario)


def test_nul_characters_in_login_fields_are_a_failed_login_not_a_500(db_url: str) -> None:
    async def scenario(s: Site) -> None:
        for fields in (
            {"username": "ada\x00", "password": PASSWORD},
            {"username": "\x00", "password": "x"},
            {"api_key": "rk_ab\x00cd_secret"},
            {"api_key": "rk_\x00_\x00"},
        ):
            r = await _login(s.http, **fields)
            assert r.status_code == 401 and "wrong user name" in r.text, fields
        assert "relaykit_session" not in s.http.cookies

    run(db_url, scenario)


def test_a_nul_inside_json_strings_round_trips(db_url: str) -> None:
    async def scenario(s: Site) -> None:
        payload: dict[str, Any] = {"te\x00xt": "a\x00b", "list": ["\x00"]}
        r = await s.http.post(
            "/api/v1/events", json={"name": "user.created", "payload": payload}, headers=s.auth
        )
        assert r.status_code == 201, r.text
        assert r.json()["payload"] == payload
        event = await s.http.get(f"/api/v1/events/{r.json()['id']}", headers=s.auth)
        assert event.json()["payload"] == payload
        r = await s.http.post("/api/v1/jobs/hello/runs", json={"payload": payload}, headers=s.auth)
        assert r.status_code == 201, r.text
        await s.client.worker(exit_when_idle=True).run()
        done = await s.http.get(f"/api/v1/runs/{r.json()['id']}", headers=s.auth)
        assert done.json()["status"] == "succeeded", done.text
        assert done.json()["output"] == {"total": 21, "payload": payload}
        r = await s.http.put("/api/v1/kv/job/hello/k", json={"value": "\x00"}, headers=s.auth)
        assert r.status_code == 200
        assert (await s.http.get("/api/v1/kv/job/hello/k", headers=s.auth)).json()["value"] == (
            "\x00"
        )

    run(db_url, scenario)
