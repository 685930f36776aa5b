"""The dashboard's access control over real HTTP requests (ASGI transport, real SQLite file):
no session → 401 with the login form, a missing or foreign CSRF token → 403, an expired session
or a used login link → 401, and none of them changes anything. Secrets never reach a page."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from tests.http_app import PASSWORD, make_client

from relaykit import Client
from relaykit.server import Access
from relaykit.server._auth import SESSION_SECONDS
from relaykit.testing import ManualClock


@dataclass
class Site:
    client: Client
    clock: ManualClock
    access: Access
    http: httpx2.AsyncClient
    api_key: str

    def browser(self) -> httpx2.AsyncClient:
        """Another browser (its own cookie jar) on the same app."""
        return httpx2.AsyncClient(transport=self.http._transport, base_url="http://testserver")

    async def statuses(self) -> list[str]:
        return [str(r.status) for r in await self.client.store.list_runs(limit=100)]


@asynccontextmanager
async def site(url: str) -> AsyncIterator[Site]:
    clock = ManualClock()
    client = make_client(url, clock=clock)
    await client.open()
    access = Access(client.store, clock)
    key = await access.create_key("dash")
    assert await access.create_user("ada", PASSWORD)
    transport = httpx2.ASGITransport(app=client.asgi_app())
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Site(client, clock, access, http, key.secret)
    finally:
        await client.close()


def run(url: str, scenario: Callable[[Site], Awaitable[None]]) -> None:
    async def go() -> None:
        async with site(url) as s:
            await scenario(s)

    asyncio.run(go())


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'relaykit.db'}"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, html
    return found.group(1)


async def _login(http: httpx2.AsyncClient, **fields: str) -> httpx2.Response:
    form = await http.get("/login")
    return await http.post("/login", data={"csrf": _csrf(form.text), **fields})


def test_pages_need_a_session_and_answer_401_with_the_login_form(url: str) -> None:
    async def scenario(s: Site) -> None:
        for path in ("/runs", "/jobs", "/jobs/hello", "/events", "/runs/run_x"):
            r = await s.http.get(path)
            assert r.status_code == 401, path
            assert 'action="/login"' in r.text and 'name="password"' in r.text
        assert (await s.http.get("/")).headers["location"] == "/runs"

    run(url, scenario)


def test_logging_in_with_a_user_or_an_api_key_and_never_showing_secrets(url: str) -> None:
    async def scenario(s: Site) -> None:
        wrong = await _login(s.http, username="ada", password="nope-nope")
        assert wrong.status_code == 401 and "wrong user name" in wrong.text
        assert "relaykit_session" not in s.http.cookies
        r = await _login(s.http, username="ada", password=PASSWORD)
        assert (r.status_code, r.headers["location"]) == (303, "/runs")
        session = s.http.cookies["relaykit_session"]
        page = await s.http.get("/runs")
        assert page.status_code == 200 and "user:ada" in page.text
        async with s.browser() as other:
            r = await _login(other, api_key=s.api_key)
            assert r.status_code == 303
            jobs = await other.get("/jobs")
            assert jobs.status_code == 200 and "Hello" in jobs.text
            for text in (page.text, jobs.text):
                assert s.api_key not in text and PASSWORD not in text and session not in text
        # The login form itself needs its CSRF cookie and token.
        async with s.browser() as bare:
            r = await bare.post("/login", data={"username": "ada", "password": PASSWORD})
            assert r.status_code == 403 and "relaykit_session" not in bare.cookies

    run(url, scenario)


def test_forms_need_the_session_s_csrf_token_and_change_nothing_without_it(url: str) -> None:
    async def scenario(s: Site) -> None:
        run_id = await s.client.enqueue("waiter", None)
        await s.client.worker(exit_when_idle=True).run()
        assert await s.statuses() == ["waiting"]
        cancel, test = f"/runs/{run_id}/cancel", "/jobs/hello/test"
        # No session at all.
        assert (await s.http.post(cancel, data={"csrf": "x"})).status_code == 401
        await _login(s.http, username="ada", password=PASSWORD)
        token = _csrf((await s.http.get(f"/runs/{run_id}")).text)
        # A session, but no token, a wrong one, or another session's.
        async with s.browser() as other:
            await _login(other, api_key=s.api_key)
            foreign = _csrf((await other.get("/jobs/hello")).text)
        assert foreign != token
        for data in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": foreign}):
            assert (await s.http.post(cancel, data=data)).status_code == 403
            r = await s.http.post(test, data={**data, "payload": "{}"})
            assert r.status_code == 403
        assert await s.statuses() == ["waiting"]
        r = await s.http.post(cancel, data={"csrf": token})
        assert (r.status_code, r.headers["location"]) == (303, f"/runs/{run_id}")
        assert await s.statuses() == ["canceled"]
        r = await s.http.post(test, data={"csrf": token, "payload": '{"n": 1}'})
        assert r.status_code == 303
        new_id = r.headers["location"].rsplit("/", 1)[1]
        assert (await s.client.get_run(new_id)).payload == {"n": 1}
        bad = await s.http.post(test, data={"csrf": token, "payload": "{nope"})
        assert bad.status_code == 400 and "not valid JSON" in bad.text
        assert sorted(await s.statuses()) == ["canceled", "queued"]

    run(url, scenario)


def test_sessions_expire_and_logout_ends_them(url: str) -> None:
    async def scenario(s: Site) -> None:
        await _login(s.http, username="ada", password=PASSWORD)
        assert (await s.http.get("/runs")).status_code == 200
        s.clock.advance(SESSION_SECONDS + 1)
        assert (await s.http.get("/runs")).status_code == 401
        await _login(s.http, username="ada", password=PASSWORD)
        token = _csrf((await s.http.get("/runs")).text)
        cookie = s.http.cookies["relaykit_session"]
        assert (await s.http.post("/logout", data={"csrf": token})).status_code == 303
        async with s.browser() as thief:  # the old cookie is worthless after logout
            thief.cookies.set("relaykit_session", cookie)
            assert (await thief.get("/runs")).status_code == 401

    run(url, scenario)


def test_a_login_link_works_once(url: str) -> None:
    async def scenario(s: Site) -> None:
        token = await s.access.login_link_token()
        r = await s.http.get("/login/link", params={"token": token})
        assert (r.status_code, r.headers["location"]) == (303, "/runs")
        assert (await s.http.get("/runs")).status_code == 200
        async with s.browser() as other:
            again = await other.get("/login/link", params={"token": token})
            assert again.status_code == 401 and "used already or expired" in again.text
            assert (await other.get("/runs")).status_code == 401
        late = await s.access.login_link_token()
        s.clock.advance(16 * 60)
        async with s.browser() as other:
            assert (await other.get("/login/link", params={"token": late})).status_code == 401

    run(url, scenario)


def test_the_run_page_shows_the_task_tree_timeline_and_logs(url: str) -> None:
    async def scenario(s: Site) -> None:
        run_id = await s.client.enqueue("hello", {"who": "ada"})
        await s.client.worker(exit_when_idle=True).run()
        await _login(s.http, username="ada", password=PASSWORD)
        page = (await s.http.get(f"/runs/{run_id}")).text
        rows = re.findall(r'<tr class="task" data-key="([^"]+)" data-depth="(\d+)"', page)
        assert rows == [("outer", "0"), ("outer/inner", "1")]
        assert (
            len(
                re.findall(
                    r'class="bar s-completed" style="margin-left: [\d.]+%; width: [\d.]+%"', page
                )
            )
            == 2
        )
        assert "computed" in page  # the log line
        assert "&#34;total&#34;: 21" in page  # the output, JSON shown HTML-escaped
        runs = (await s.http.get("/runs", params={"job": "hello", "status": "succeeded"})).text
        assert run_id in runs
        other = (await s.http.get("/runs", params={"job": "waiter"})).text
        assert run_id not in other and "no runs" in other

    run(url, scenario)


def test_after_login_it_goes_back_to_the_page_asked_for_and_never_to_another_site(
    url: str,
) -> None:
    async def scenario(s: Site) -> None:
        asked = await s.http.get("/jobs/hello")
        assert asked.status_code == 401 and 'name="next" value="/jobs/hello"' in asked.text
        for nxt, lands in [
            ("/jobs/hello", "/jobs/hello"),
            ("//evil.example/x", "/runs"),
            ("/\\evil.example", "/runs"),
            ("https://evil.example/", "/runs"),
        ]:
            async with s.browser() as b:
                r = await _login(b, username="ada", password=PASSWORD, next=nxt)
                assert (r.status_code, r.headers["location"]) == (303, lands), nxt

    run(url, scenario)


def test_pages_forbid_framing_and_foreign_scripts_and_ship_their_assets(url: str) -> None:
    async def scenario(s: Site) -> None:
        page = await s.http.get("/login")
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        for asset, kind in (("/static/app.css", "text/css"), ("/static/app.js", "javascript")):
            r = await s.http.get(asset)
            assert r.status_code == 200 and kind in r.headers["content-type"], asset
            assert f'"{asset}"' in page.text  # linked from every page, from this server

    run(url, scenario)
