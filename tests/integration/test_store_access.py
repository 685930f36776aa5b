"""The store methods of the HTTP layer — API keys, users, sessions, key-value writes and run
pagination — checked on every backend (a real SQLite file and a real PostgreSQL database)."""

from __future__ import annotations

import asyncio

from tests.pg import Backend

from relaykit import RunStatus
from relaykit.records import NO_ROUTING, EventRecord, RunRecord
from relaykit.store import Store
from relaykit.store.access import ApiKeyRecord, SessionRecord, UserRecord

NOW = 1_000.0


def test_api_keys_are_stored_listed_and_revoked(backend: Backend) -> None:
    a = ApiKeyRecord("k1", "ci", "a" * 64, NOW)
    b = ApiKeyRecord("k2", "laptop", "b" * 64, NOW + 1)

    async def go(store: Store) -> tuple[object, ...]:
        await store.create_api_key(b)
        await store.create_api_key(a)
        listed = await store.list_api_keys()
        revoked = await store.revoke_api_key("k1", now=NOW + 5)
        again = await store.revoke_api_key("k1", now=NOW + 6)
        unknown = await store.revoke_api_key("nope", now=NOW + 6)
        return (
            listed,
            revoked,
            again,
            unknown,
            await store.get_api_key("k1"),
            await store.get_api_key("x"),
        )

    listed, revoked, again, unknown, k1, missing = asyncio.run(backend.run(go))
    assert listed == [a, b]  # oldest first
    assert (revoked, again, unknown, missing) == (True, False, False, None)
    assert k1 == ApiKeyRecord("k1", "ci", "a" * 64, NOW, revoked_at=NOW + 5)


def test_a_user_name_is_taken_once(backend: Backend) -> None:
    async def go(store: Store) -> tuple[object, ...]:
        first = await store.create_user(UserRecord("ada", "scrypt$1", NOW))
        second = await store.create_user(UserRecord("ada", "scrypt$2", NOW + 1))
        return first, second, await store.get_user("ada"), await store.get_user("bob")

    first, second, ada, bob = asyncio.run(backend.run(go))
    assert (first, second, bob) == (True, False, None)
    assert ada == UserRecord("ada", "scrypt$1", NOW)  # the second call changed nothing


def test_sessions_expire_and_are_taken_once(backend: Backend) -> None:
    live = SessionRecord("h1", "session", "user:ada", NOW, NOW + 100)
    link = SessionRecord("h2", "login", "cli", NOW, NOW + 10)
    stale = SessionRecord("h3", "session", "user:bob", NOW, NOW + 1)

    async def go(store: Store) -> tuple[object, ...]:
        for s in (live, link, stale):
            await store.create_session(s)
        seen = await store.get_session("h1", now=NOW + 50)
        expired = await store.get_session("h3", now=NOW + 2)
        taken = await store.take_session("h2", now=NOW + 5)
        taken_again = await store.take_session("h2", now=NOW + 5)
        # Creating a session drops the ones that expired by its creation time.
        await store.create_session(SessionRecord("h4", "session", "key:k", NOW + 2, NOW + 9))
        stale_taken = await store.take_session("h3", now=NOW)
        late = await store.get_session("h1", now=NOW + 100)
        return seen, expired, taken, taken_again, stale_taken, late

    seen, expired, taken, taken_again, stale_taken, late = asyncio.run(backend.run(go))
    assert (seen, expired, taken, taken_again) == (live, None, link, None)
    assert stale_taken is None
    assert late is None  # expiry is exclusive: at expires_at it is gone


def test_kv_set_writes_replaces_and_deletes(backend: Backend) -> None:
    async def go(store: Store) -> list[str | None]:
        await store.kv_set("job:j", "k", '{"a": 1}', now=NOW)
        first = await store.kv_get("job:j", "k")
        await store.kv_set("job:j", "k", "[2]", now=NOW + 1)
        second = await store.kv_get("job:j", "k")
        other = await store.kv_get("env:dev", "k")
        await store.kv_set("job:j", "k", None, now=NOW + 2)
        await store.kv_set("job:j", "absent", None, now=NOW + 2)
        return [first, second, other, await store.kv_get("job:j", "k")]

    assert asyncio.run(backend.run(go)) == ['{"a": 1}', "[2]", None, None]


def test_list_runs_pages_by_offset_newest_first(backend: Backend) -> None:
    async def go(store: Store) -> list[list[str]]:
        for n in range(5):
            await store.create_run(
                RunRecord(f"r{n}", "j", "1.0.0", RunStatus.QUEUED, "null", NOW + n)
            )
        pages = [[r.id for r in await store.list_runs(limit=2, offset=o)] for o in (0, 2, 4, 6)]
        return [*pages, [r.id for r in await store.list_runs(job_id="j", limit=10, offset=3)]]

    assert asyncio.run(backend.run(go)) == [["r4", "r3"], ["r2", "r1"], ["r0"], [], ["r1", "r0"]]


def test_list_runs_and_events_page_by_keyset_with_ties_and_inserts(backend: Backend) -> None:
    """``before=(time, id)`` pages newest first by time then id: runs created at the same
    instant are each returned once, and runs inserted during the walk (newer) never are."""

    async def go(store: Store) -> tuple[list[str], list[str], list[str]]:
        for n in range(7):  # r0..r6, three pairs created at the same instant
            await store.create_run(
                RunRecord(f"r{n}", "j", "1.0.0", RunStatus.QUEUED, "null", NOW + n // 2)
            )
        seen: list[str] = []
        before = None
        while True:
            page = await store.list_runs(limit=2, before=before)
            seen += [r.id for r in page]
            if len(page) < 2:
                break
            before = (page[-1].created_at, page[-1].id)
            await store.create_run(  # a newer run, inserted between two pages
                RunRecord(f"new{len(seen)}", "j", "1.0.0", RunStatus.QUEUED, "null", NOW + 99)
            )
        queued = await store.list_runs(status="queued", limit=3, before=(NOW + 1, "r3"))
        for n in range(3):
            await store.insert_event(
                EventRecord(f"e{n}", "x", "null", NOW), routing=NO_ROUTING, deliver=True, now=NOW
            )
        events = await store.list_events(limit=5, before=(NOW, "e2"))
        return seen, [r.id for r in queued], [e.id for e in events]

    seen, queued, events = asyncio.run(backend.run(go))
    assert seen == ["r6", "r5", "r4", "r3", "r2", "r1", "r0"]
    assert queued == ["r2", "r1", "r0"]
    assert events == ["e1", "e0"]
