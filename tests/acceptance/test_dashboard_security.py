"""The dashboard's login and sessions against attacks, over real HTTP requests (the real app on
the ASGI transport) on SQLite and PostgreSQL:

- a session opened with an API key ends when the key is revoked with ``relaykit keys revoke``
  (the real command, on the same database);
- failed logins are throttled per account and per client address: past the limit the login
  answers 429 with ``Retry-After`` (even with the right password) until the window passes,
  and two apps sharing one store (two processes, in production) count together;
- scrypt runs in a worker thread: while a login's hash is held, another request is answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from tests.http_app import PASSWORD, make_client

from relaykit import Client
from relaykit.server import Access
from relaykit.server._auth import (
    LOGIN_ATTEMPTS_PER_ACCOUNT,
    LOGIN_ATTEMPTS_PER_ADDRESS,
    LOGIN_WINDOW_SECONDS,
)
from relaykit.testing import ManualClock

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit


@dataclass
class Site:
    client: Client
    access: Access
    app: Any
    api_key: str
    api_key_id: str

    def browser(self, address: str = "127.0.0.1") -> httpx2.AsyncClient:
        """A browser (its own cookies) connecting from ``address``."""
        transport = httpx2.ASGITransport(app=self.app, client=(address, 50000))
        return httpx2.AsyncClient(transport=transport, base_url="http://testserver")


@asynccontextmanager
async def site(url: str, clock: ManualClock, *, users: bool = True) -> AsyncIterator[Site]:
    client = make_client(url, clock=clock)
    await client.open()
    access = Access(client.store, clock)
    key = await access.create_key("dash")
    if users:
        for name in ("ada", "bob"):
            assert await access.create_user(name, PASSWORD)
    try:
        yield Site(client, access, client.asgi_app(), key.secret, key.record.id)
    finally:
        await client.close()


def run(url: str, scenario: Callable[[Site, ManualClock], Awaitable[None]]) -> None:
    async def go() -> None:
        clock = ManualClock()
        async with site(url, clock) as s:
            await scenario(s, clock)

    asyncio.run(go())


async def login(http: httpx2.AsyncClient, **fields: str) -> httpx2.Response:
    form = await http.get("/login")
    found = re.search(r'name="csrf" value="([^"]*)"', form.text)
    assert found, form.text
    return await http.post("/login", data={"csrf": found.group(1), **fields})


# -- a session opened with an API key ends with the key -----------------------------------------


# The command runs in a thread beside the test's event loop and server: a real process.
@pytest.mark.subprocess
def test_revoking_the_api_key_ends_the_dashboard_sessions_it_opened(
    db_url: str, rk: Relaykit
) -> None:
    async def scenario(s: Site, clock: ManualClock) -> None:
        async with s.browser() as by_key, s.browser() as by_user:
            assert (await login(by_key, api_key=s.api_key)).status_code == 303
            assert (await login(by_user, username="ada", password=PASSWORD)).status_code == 303
            assert (await by_key.get("/runs")).status_code == 200

            done = await asyncio.to_thread(rk, "keys", "revoke", s.api_key_id, "--database", db_url)
            assert done.returncode == 0, done.describe()

            page = await by_key.get("/runs")
            assert page.status_code == 401 and 'action="/login"' in page.text
            assert (await by_key.get("/jobs")).status_code == 401  # ended, not just refused once
            assert (await by_user.get("/runs")).status_code == 200  # a user's session is not
            # Nor can the revoked key open a new one.
            assert (await login(by_key, api_key=s.api_key)).status_code == 401

    run(db_url, scenario)


# -- login throttling ---------------------------------------------------------------------------


def test_an_account_is_throttled_after_failed_logins_even_with_the_right_password(
    db_url: str,
) -> None:
    async def scenario(s: Site, clock: ManualClock) -> None:
        async with s.browser("10.0.0.1") as a, s.browser("10.0.0.2") as b:
            for _ in range(LOGIN_ATTEMPTS_PER_ACCOUNT):
                assert (await login(a, username="ada", password="wrong-wrong")).status_code == 401
            clock.advance(10)
            # From another address too: the account is what is being guessed.
            for browser in (a, b):
                r = await login(browser, username="ada", password=PASSWORD)
                assert r.status_code == 429, r.text[:200]
                assert "too many failed logins" in r.text
                assert int(r.headers["retry-after"]) == LOGIN_WINDOW_SECONDS - 10
                assert "relaykit_session" not in browser.cookies
            # Another account is not affected.
            assert (await login(b, username="bob", password=PASSWORD)).status_code == 303
            # Once the oldest failure is older than the window, one more attempt is allowed.
            clock.advance(LOGIN_WINDOW_SECONDS)
            assert (await login(a, username="ada", password=PASSWORD)).status_code == 303
            assert (await a.get("/runs")).status_code == 200

    run(db_url, scenario)


def test_an_address_is_throttled_after_failed_logins_on_any_accounts(db_url: str) -> None:
    async def scenario(s: Site, clock: ManualClock) -> None:
        async with s.browser("10.0.0.1") as a, s.browser("10.0.0.2") as b:
            for i in range(LOGIN_ATTEMPTS_PER_ADDRESS):  # a spray: one guess per account
                r = await login(a, username=f"user-{i}", password="guess-guess")
                assert r.status_code == 401
            r = await login(a, username="ada", password=PASSWORD)
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
            r = await login(a, api_key=s.api_key)  # whatever the credentials
            assert r.status_code == 429
            # Another address logs in as usual.
            assert (await login(b, username="ada", password=PASSWORD)).status_code == 303

    run(db_url, scenario)


def test_successful_logins_do_not_count(db_url: str) -> None:
    async def scenario(s: Site, clock: ManualClock) -> None:
        for _ in range(LOGIN_ATTEMPTS_PER_ACCOUNT * 2):
            async with s.browser() as browser:
                assert (await login(browser, username="ada", password=PASSWORD)).status_code == 303

    run(db_url, scenario)


def test_apps_sharing_a_store_count_failed_logins_together(db_url: str) -> None:
    async def go() -> None:
        clock = ManualClock()
        async with AsyncExitStack() as stack:
            one = await stack.enter_async_context(site(db_url, clock))
            two = await stack.enter_async_context(site(db_url, clock, users=False))
            assert one.client.store is not two.client.store
            async with one.browser() as a, two.browser("10.9.9.9") as b:
                half = LOGIN_ATTEMPTS_PER_ACCOUNT // 2
                for _ in range(half):
                    assert (await login(a, username="ada", password="nope-nope")).status_code == 401
                for _ in range(LOGIN_ATTEMPTS_PER_ACCOUNT - half):
                    assert (await login(b, username="ada", password="nope-nope")).status_code == 401
                assert (await login(a, username="ada", password=PASSWORD)).status_code == 429
                assert (await login(b, username="ada", password=PASSWORD)).status_code == 429

    asyncio.run(go())


# -- password hashing off the event loop --------------------------------------------------------


class HeldHash:
    """``hashlib.scrypt`` that, once armed, waits for ``release`` before hashing, and records
    which thread called it."""

    def __init__(self) -> None:
        self.armed = False
        self.started = threading.Event()
        self.release = threading.Event()
        self.threads: list[int] = []
        self.released_in_time: list[bool] = []


@pytest.fixture
def held_hash(monkeypatch: pytest.MonkeyPatch) -> HeldHash:
    held = HeldHash()
    real = hashlib.scrypt

    def scrypt(*args: Any, **kwargs: Any) -> bytes:
        if held.armed:
            held.threads.append(threading.get_ident())
            held.started.set()
            # Long enough for the test to be answered; a hash on the event loop would sit
            # here the whole time (nothing else can run) and then record False.
            held.released_in_time.append(held.release.wait(timeout=5))
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", scrypt)
    return held


def test_a_request_is_answered_while_a_login_hashes_its_password(
    db_url: str, held_hash: HeldHash
) -> None:
    async def scenario(s: Site, clock: ManualClock) -> None:
        loop_thread = threading.get_ident()
        auth = {"Authorization": f"Bearer {s.api_key}"}
        async with s.browser() as user, s.browser() as other:
            held_hash.armed = True
            logging_in = asyncio.create_task(login(user, username="ada", password=PASSWORD))
            assert await asyncio.to_thread(held_hash.started.wait, 10)  # inside the hash now
            answered = await other.get("/api/v1/jobs", headers=auth)
            health = await other.get("/login")
            assert (answered.status_code, health.status_code) == (200, 200)
            assert not logging_in.done()  # the login's hash is still held: they overlapped
            held_hash.release.set()
            assert (await logging_in).status_code == 303
        assert held_hash.released_in_time == [True]
        assert loop_thread not in held_hash.threads  # hashed on a worker thread

    run(db_url, scenario)


def test_creating_a_user_hashes_off_the_event_loop(db_url: str, held_hash: HeldHash) -> None:
    async def scenario(s: Site, clock: ManualClock) -> None:
        loop_thread = threading.get_ident()
        held_hash.armed = True
        creating = asyncio.create_task(s.access.create_user("cy", PASSWORD))
        assert await asyncio.to_thread(held_hash.started.wait, 10)
        async with s.browser() as other:
            assert (await other.get("/login")).status_code == 200
        assert not creating.done()
        held_hash.release.set()
        assert await creating is True
        assert held_hash.released_in_time == [True] and loop_thread not in held_hash.threads

    run(db_url, scenario)
