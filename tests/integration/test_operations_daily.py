"""The operations behind ``runs list --since/--version``, run id prefixes, the dashboard's
search, event pages and cron fire times, on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.pg import Backend

from relaykit import (
    Client,
    Credentials,
    Integration,
    RunStatus,
    WebhookExample,
    cron_trigger,
    event_trigger,
)
from relaykit.engine import operations as operations_module
from relaykit.engine.operations import Operations
from relaykit.errors import UnknownEvent, UnknownJob, UnknownRun
from relaykit.records import RunRecord
from relaykit.store import Store
from relaykit.testing import ManualClock

NOW = 1_800_000_000.0


def _run(run_id: str, *, created: float, version: str = "1.0.0", **extra: Any) -> RunRecord:
    return RunRecord(
        id=run_id,
        job_id="j",
        job_version=version,
        status=RunStatus.SUCCEEDED,
        payload='{"n": 1}',
        created_at=created,
        next_attempt_at=None,
        **extra,
    )


def _ids(page: Any) -> list[str]:
    return [r.id for r in page.data]


def test_list_runs_since_and_version_page_through_every_match(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        for i in range(12):
            version = "2.0.0" if i % 3 == 0 else "1.0.0"
            await store.create_run(_run(f"r{i:02d}", created=NOW + i, version=version))
        ops = Operations(store, clock=ManualClock(NOW + 100))
        walked: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await ops.list_runs(version="2.0.0", limit=2, cursor=cursor)
            walked += _ids(page)
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return {
            "since": _ids(await ops.list_runs(since=NOW + 9)),
            "since_version": _ids(await ops.list_runs(since=NOW + 5, version="2.0.0")),
            "limit": _ids(await ops.list_runs(since=NOW, limit=3)),
            "none": _ids(await ops.list_runs(since=NOW + 50)),
            "walked": walked,
            "pages": pages,
        }

    found = asyncio.run(backend.run(go))
    assert found == {
        "since": ["r11", "r10", "r09"],
        "since_version": ["r09", "r06"],
        "limit": ["r11", "r10", "r09"],
        "none": [],
        "walked": ["r09", "r06", "r03", "r00"],
        "pages": 3,  # a full second page cannot know it was the last: a third, empty one
    }


def test_a_version_scan_stops_at_its_budget_and_goes_on_from_there(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a budget of one store page of 200: 250 runs of 1.0.0 then none of 3.0.0 in the first 200
    monkeypatch.setattr(operations_module, "_SCAN_PAGES", 1)

    async def go(store: Store) -> tuple[list[str], bool, list[str]]:
        await store.create_run(_run("old", created=NOW - 1, version="3.0.0"))
        for i in range(250):
            await store.create_run(_run(f"n{i:03d}", created=NOW + i))
        ops = Operations(store, clock=ManualClock(NOW + 1000))
        first = await ops.list_runs(version="3.0.0")
        second = await ops.list_runs(version="3.0.0", cursor=first.next_cursor)
        return _ids(first), first.next_cursor is not None, _ids(second)

    first, more, second = asyncio.run(backend.run(go))
    assert (first, more, second) == ([], True, ["old"])


def test_resolve_run_id_takes_a_unique_prefix(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, str]:
        for run_id in ("run_aa1", "run_aa2", "run_ab"):
            await store.create_run(_run(run_id, created=NOW))
        ops = Operations(store, clock=ManualClock(NOW))
        out = {}
        for text in ("run_aa1", "run_ab", "run_a", "run_aa", "run_z", ""):
            try:
                out[text] = await ops.resolve_run_id(text)
            except UnknownRun as exc:
                out[text] = f"error: {exc}"
        return out

    found = asyncio.run(backend.run(go))
    assert found["run_aa1"] == "run_aa1"
    assert found["run_ab"] == "run_ab"
    assert "matches several runs (run_aa1, run_aa2, ...)" in found["run_a"]
    assert "matches several runs (run_aa1, run_aa2); give more characters" in found["run_aa"]
    assert found["run_z"].startswith("error: no run 'run_z'")
    assert found[""].startswith("error: no run ''")


def test_search_finds_ids_prefixes_and_payload_text(backend: Backend) -> None:
    async def go(store: Store) -> dict[str, Any]:
        await store.create_run(
            _run("run_x1", created=NOW, event_id="evt_1", event_name="user.created")
        )
        await store.create_run(
            dataclasses.replace(
                _run("run_y1", created=NOW + 1), payload='{"email": "ada@example.com"}'
            )
        )
        ops = Operations(store, clock=ManualClock(NOW))
        search = {}
        for q in ("run_x", "ada@example", "run_", "  ", "nothing-like-it"):
            found = await ops.search(q)
            search[q] = ([r.id for r in found.runs], [e.id for e in found.events])
        return search

    found = asyncio.run(backend.run(go))
    assert found["run_x"] == (["run_x1"], [])
    assert found["ada@example"] == (["run_y1"], [])
    assert found["run_"] == (["run_y1", "run_x1"], [])
    assert found["  "] == ([], [])
    assert found["nothing-like-it"] == ([], [])


def test_event_runs_lists_the_runs_an_event_started(tmp_path: Any) -> None:
    client = Client(id="ops-daily", database_url=f"sqlite:///{tmp_path / 'r.db'}")

    @client.define_job(id="a", version="1.0.0", trigger=event_trigger("user.created"))
    async def a(payload: Any, io: Any, ctx: Any) -> None:
        return None

    @client.define_job(id="b", version="1.0.0", trigger=event_trigger("user.created"))
    async def b(payload: Any, io: Any, ctx: Any) -> None:
        return None

    async def go() -> dict[str, Any]:
        try:
            ops = await client.operations()
            hit = await ops.send_event("user.created", {"n": 1})
            miss = await ops.send_event("user.deleted", {"n": 2})
            found_hit = await ops.event_runs(hit.id)
            found_miss = await ops.event_runs(miss.id)
            try:
                await ops.event_runs("evt_nope")
                unknown = ""
            except UnknownEvent as exc:
                unknown = str(exc)
            by_id = await ops.search(hit.id)
            return {
                "hit": sorted(r.job for r in found_hit.runs),
                "hit_ids": sorted(r.id for r in found_hit.runs) == sorted(hit.runs),
                "miss": found_miss.runs,
                "unknown": unknown,
                "search_event": [e.id for e in by_id.events] == [hit.id],
            }
        finally:
            await client.close()

    assert asyncio.run(go()) == {
        "hit": ["a", "b"],
        "hit_ids": True,
        "miss": [],
        "unknown": "no event 'evt_nope'",
        "search_event": True,
    }


def test_next_fire_times_of_a_cron_job() -> None:
    client = Client(id="fires")

    @client.define_job(id="nightly", version="1.0.0", trigger=cron_trigger("30 3 * * *"))
    async def nightly(payload: Any, io: Any, ctx: Any) -> None:
        return None

    @client.define_job(id="manual", version="1.0.0")
    async def manual(payload: Any, io: Any, ctx: Any) -> None:
        return None

    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()
    ops = Operations(store=None, clock=ManualClock(start), jobs=client.jobs)  # type: ignore[arg-type]  # no store is read

    fires = ops.next_fire_times("nightly", count=3)
    assert [t.isoformat() for t in fires] == [
        "2026-03-02T03:30:00+00:00",
        "2026-03-03T03:30:00+00:00",
        "2026-03-04T03:30:00+00:00",
    ]
    assert ops.next_fire_times("manual") == []
    with pytest.raises(UnknownJob):
        ops.next_fire_times("nope")


class Hooks(Integration):
    """A third-party integration with one sample delivery (the optional base-class methods)."""

    webhook_secret_name = "token"

    def create_client(self, credentials: Credentials) -> Any:
        return self.http_client(base_url="https://hooks.invalid")

    def webhook_examples(self) -> tuple[str, ...]:
        return ("order.paid",)

    def example_source(self, trigger_filter: Any) -> str:
        return str((trigger_filter or {}).get("shop", ["default"])[0])

    def example_delivery(
        self, name: str, secret: str, *, source_id: str, now: float
    ) -> WebhookExample | None:
        if name != "order.paid":
            return None
        payload = {"shop": source_id, "paid_at": now}
        body = json.dumps(payload).encode()
        return WebhookExample(name, "hooks.order.paid", payload, {"x-token": secret}, body)


def test_a_webhook_jobs_example_payload_is_its_integrations_sample() -> None:
    client = Client(id="examples")
    hooks = Hooks("hooks", token="unused")

    @client.define_job(
        id="paid",
        version="1.0.0",
        trigger=event_trigger("hooks.order.paid", filter={"shop": ["acme"]}),
        integrations={"hooks": hooks},
    )
    async def paid(payload: Any, io: Any, ctx: Any) -> None:
        return None

    @client.define_job(
        id="refunded",  # the integration has no sample of this event
        version="1.0.0",
        trigger=event_trigger("hooks.order.refunded"),
        integrations={"hooks": hooks},
    )
    async def refunded(payload: Any, io: Any, ctx: Any) -> None:
        return None

    @client.define_job(id="signup", version="1.0.0", trigger=event_trigger("user.created"))
    async def signup(payload: Any, io: Any, ctx: Any) -> None:
        return None

    ops = Operations(store=None, clock=ManualClock(NOW), jobs=client.jobs)  # type: ignore[arg-type]  # no store is read

    # aimed at the source the trigger's filter names, so the sample matches the job
    assert ops.example_payload("paid") == {"shop": "acme", "paid_at": NOW}
    assert ops.example_payload("refunded") is None
    assert ops.example_payload("signup") is None
    with pytest.raises(UnknownJob):
        ops.example_payload("nope")
