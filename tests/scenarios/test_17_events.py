"""Scenario 17: events start runs of the jobs whose event trigger matches them.

An event is stored once per id and, in the same transaction, turned into one run per enabled
job whose ``event_trigger`` matches its name (or one of a list of names), its ``source`` and
its ``filter``. Payloads are validated when a run starts. ``io.send_event`` emits exactly once
per run and key; a worker delivers what runs send, and delayed events once they are due (until
then ``cancel_event`` withdraws them). Every test drives one event loop, a ManualClock and
``Worker(exit_when_idle=True)`` passes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel, Field

from relaykit import (
    IO,
    Client,
    Context,
    RunResult,
    RunStatus,
    Worker,
    event_trigger,
    invoke_trigger,
)
from relaykit.definitions.triggers import Trigger
from relaykit.errors import ConfigurationError
from relaykit.testing import ManualClock

T = TypeVar("T")

EVENT_KEYS = {"id", "name", "payload", "timestamp", "deliver_at", "runs", "duplicate"}


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _work(client: Client) -> None:
    """One worker pass: deliver what is due, execute every runnable run, return when idle."""
    await Worker(client, exit_when_idle=True).run()


async def _runs(client: Client, job_id: str | None = None) -> list[RunResult]:
    """The runs (of one job), oldest first."""
    store = await client.open()
    records = await store.list_runs(job_id=job_id, limit=1000)
    return [await client.get_run(r.id) for r in reversed(records)]


def _echo(
    client: Client, job_id: str, trigger: Trigger | None = None, *, enabled: bool = True
) -> None:
    """A job that returns what started it."""

    @client.define_job(id=job_id, version="1.0.0", trigger=trigger, enabled=enabled)
    async def echo(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
        event = ctx.event
        return {"job": ctx.job.id, "event": event.name, "event_id": event.id, "payload": payload}


def test_an_event_starts_a_run_of_every_matching_enabled_job(client: Client) -> None:
    _echo(client, "one-name", trigger=event_trigger("user.created"))
    _echo(client, "any-name", trigger=event_trigger(["user.created", "user.deleted"]))
    _echo(client, "from-stripe", trigger=event_trigger("user.created", source="stripe"))
    _echo(client, "pro-only", trigger=event_trigger("user.created", filter={"plan": ["pro"]}))
    _echo(client, "other-name", trigger=event_trigger("order.placed"))
    _echo(client, "disabled", trigger=event_trigger("user.created"), enabled=False)
    _echo(client, "invoked", trigger=invoke_trigger())
    _echo(client, "no-trigger")

    async def go() -> None:
        free = await client.send_event("user.created", {"plan": "free"})
        pro = await client.send_event("user.created", {"plan": "pro"}, source="stripe")
        deleted = await client.send_event("user.deleted", {"plan": "pro"})
        nobody = await client.send_event("nobody.listens", {"x": 1})
        for sent in (free, pro, deleted, nobody):
            assert set(sent) == EVENT_KEYS
            assert sent["duplicate"] is False
            assert sent["deliver_at"] is None
        assert nobody["runs"] == []
        assert nobody["payload"] == {"x": 1}
        assert nobody["name"] == "nobody.listens"

        started: dict[str, list[str]] = {}
        for sent in (free, pro, deleted):
            started[sent["id"]] = sorted([(await client.get_run(r)).job for r in sent["runs"]])
        assert started == {
            free["id"]: ["any-name", "one-name"],
            pro["id"]: ["any-name", "from-stripe", "one-name", "pro-only"],
            deleted["id"]: ["any-name"],
        }
        # the runs are queued for a worker; nothing else was created
        assert len(await _runs(client)) == 7
        assert {r.status for r in await _runs(client)} == {RunStatus.QUEUED}

        await _work(client)

        runs = await _runs(client)
        assert len(runs) == 7
        assert all(r.status is RunStatus.SUCCEEDED for r in runs), [r.error for r in runs]
        for sent in (free, pro, deleted):
            for run_id in sent["runs"]:
                output = (await client.get_run(run_id)).output
                assert output["event"] == sent["name"]
                assert output["event_id"] == sent["id"]
                assert output["payload"] == sent["payload"]
        for job_id in ("other-name", "disabled", "invoked", "no-trigger"):
            assert await _runs(client, job_id) == []
        store = await client.open()
        stored = await store.get_event(nobody["id"])  # an event no job wants is still stored
        assert stored is not None
        assert stored.status == "delivered"

    _run(go())


def test_the_same_event_id_twice_is_one_event_and_one_set_of_runs(
    client: Client, clock: ManualClock
) -> None:
    _echo(client, "welcome", trigger=event_trigger("user.created"))
    _echo(client, "audit", trigger=event_trigger("user.created"))

    async def go() -> None:
        first = await client.send_event("user.created", {"n": 1}, id="evt-user-42")
        clock.advance(5)
        second = await client.send_event("user.created", {"n": 1}, id="evt-user-42")
        await _work(client)
        third = await client.send_event("user.created", {"n": 1}, id="evt-user-42")
        await _work(client)

        assert first["id"] == second["id"] == third["id"] == "evt-user-42"
        assert first["duplicate"] is False
        assert len(first["runs"]) == 2
        assert (second["duplicate"], second["runs"]) == (True, [])
        assert (third["duplicate"], third["runs"]) == (True, [])
        runs = await _runs(client)
        assert sorted(r.id for r in runs) == sorted(first["runs"])
        assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 2
        store = await client.open()
        assert [e.id for e in await store.list_events()] == ["evt-user-42"]

    _run(go())


def test_a_duplicate_send_returns_the_stored_event(client: Client, clock: ManualClock) -> None:
    async def go() -> None:
        first = await client.send_event("user.created", {"n": 1}, id="evt-1")
        clock.advance(5)
        again = await client.send_event("user.created", {"n": 2}, id="evt-1")
        store = await client.open()
        stored = await store.get_event("evt-1")
        assert stored is not None
        assert stored.timestamp == first["timestamp"]
        assert again["duplicate"] is True
        assert (again["payload"], again["timestamp"]) == ({"n": 1}, first["timestamp"])

    _run(go())


class Signup(BaseModel):
    email: str
    seats: int = Field(gt=0)


def test_an_invalid_payload_ends_that_run_invalid_payload_and_the_event_is_kept(
    client: Client, effects: Counter[str]
) -> None:
    @client.define_job(id="signup", version="1.0.0", trigger=event_trigger("signup", schema=Signup))
    async def signup(payload: Signup, io: IO, ctx: Context) -> int:
        effects["signup"] += 1
        return payload.seats

    _echo(client, "raw", trigger=event_trigger("signup"))  # no schema: takes anything

    async def go() -> None:
        bad = await client.send_event("signup", {"email": "a@b.c", "seats": 0})
        good = await client.send_event("signup", {"email": "a@b.c", "seats": 3})
        await _work(client)

        statuses = {(await client.get_run(r)).job: (await client.get_run(r)) for r in bad["runs"]}
        assert statuses["signup"].status is RunStatus.INVALID_PAYLOAD
        error = statuses["signup"].error
        assert error is not None
        assert "validation error for Signup" in error["message"]
        assert statuses["raw"].status is RunStatus.SUCCEEDED
        good_runs = {(await client.get_run(r)).job: (await client.get_run(r)) for r in good["runs"]}
        assert good_runs["signup"].status is RunStatus.SUCCEEDED
        assert good_runs["signup"].output == 3
        assert effects == Counter({"signup": 1})  # the bad payload never reached the function
        store = await client.open()
        kept = await store.get_event(bad["id"])
        assert kept is not None
        assert kept.name == "signup"

    _run(go())


def test_io_send_event_emits_once_across_replays_and_a_worker_delivers_it(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    @client.define_job(id="ship", version="1.0.0")
    async def ship(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
        effects["ship attempt"] += 1
        sent = await io.send_event("notify", "order.shipped", {"order": payload["order"]})
        await io.wait("cool-off", seconds=10)  # forces a replay of the send
        return sent

    @client.define_job(id="mail", version="1.0.0", trigger=event_trigger("order.shipped"))
    async def mail(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
        effects["mail"] += 1
        return {"order": payload["order"], "event_id": ctx.event.id}

    async def go() -> None:
        first = await client.enqueue(ship, {"order": 7})
        second = await client.enqueue(ship, {"order": 8})
        await _work(client)  # both ships send and suspend; the worker delivers the events
        assert effects["mail"] == 2
        clock.advance(10)
        await _work(client)  # both replay past the send and finish
        await _work(client)

        assert effects["ship attempt"] == 4  # two attempts each: a replay happened
        ships = [await client.get_run(first), await client.get_run(second)]
        assert [r.status for r in ships] == [RunStatus.SUCCEEDED] * 2
        ids = [r.output["id"] for r in ships]
        assert len(set(ids)) == 2  # derived from run and key: distinct per run
        assert [r.output["payload"] for r in ships] == [{"order": 7}, {"order": 8}]
        store = await client.open()
        events = await store.list_events()
        assert sorted(e.id for e in events) == sorted(ids)  # stored once each
        assert all(e.status == "delivered" for e in events)
        mails = await _runs(client, "mail")
        assert [r.status for r in mails] == [RunStatus.SUCCEEDED] * 2
        assert sorted((m.output["order"], m.output["event_id"]) for m in mails) == sorted(
            zip([7, 8], ids, strict=True)
        )
        assert effects["mail"] == 2

    _run(go())


def test_io_send_event_id_derives_from_run_and_key(client: Client) -> None:
    @client.define_job(id="twice", version="1.0.0")
    async def twice(payload: Any, io: IO, ctx: Context) -> list[str]:
        a = await io.send_event("a", "ping", {"n": 1})
        b = await io.send_event("b", "ping", {"n": 2})
        c = await io.send_event("c", "ping", {"n": 3}, id="my-own-id")
        return [a["id"], b["id"], c["id"]]

    async def go() -> None:
        one = await client.run(twice)
        two = await client.run(twice)
        assert one.status is RunStatus.SUCCEEDED, one.error
        assert two.status is RunStatus.SUCCEEDED, two.error
        assert len(set(one.output[:2]) | set(two.output[:2])) == 4
        assert one.output[2] == two.output[2] == "my-own-id"
        store = await client.open()
        assert len(await store.list_events()) == 5  # the explicit id was stored once

    _run(go())


@pytest.mark.parametrize("how", ["deliver_after", "deliver_at"])
def test_a_delayed_event_is_routed_once_when_due(
    client: Client, clock: ManualClock, how: str
) -> None:
    _echo(client, "remind", trigger=event_trigger("reminder"))

    async def go() -> None:
        due = clock.now() + 3600
        if how == "deliver_after":
            sent = await client.send_event("reminder", {"n": 1}, deliver_after=3600)
        else:
            sent = await client.send_event(
                "reminder", {"n": 1}, deliver_at=datetime.fromtimestamp(due, UTC)
            )
        assert sent["runs"] == []
        assert sent["duplicate"] is False
        assert sent["deliver_at"] == pytest.approx(due)
        store = await client.open()
        pending = await store.get_event(sent["id"])
        assert pending is not None
        assert pending.status == "pending"

        await _work(client)
        clock.advance(3599)
        await _work(client)
        assert await _runs(client) == []  # not routed before it is due

        clock.advance(1)
        await _work(client)
        await _work(client)
        clock.advance(3600)
        await _work(client)

        runs = await _runs(client)
        assert [r.status for r in runs] == [RunStatus.SUCCEEDED]
        assert runs[0].output["event_id"] == sent["id"]
        assert runs[0].output["payload"] == {"n": 1}
        delivered = await store.get_event(sent["id"])
        assert delivered is not None
        assert delivered.status == "delivered"

    _run(go())


def test_io_send_event_with_a_delay_is_delivered_when_due(
    client: Client, clock: ManualClock
) -> None:
    @client.define_job(id="later", version="1.0.0")
    async def later(payload: Any, io: IO, ctx: Context) -> Any:
        return await io.send_event("send", "tick", {"n": 1}, deliver_after=60)

    _echo(client, "on-tick", trigger=event_trigger("tick"))

    async def go() -> None:
        run_id = await client.enqueue(later)
        await _work(client)
        assert (await client.get_run(run_id)).status is RunStatus.SUCCEEDED
        assert await _runs(client, "on-tick") == []
        clock.advance(60)
        await _work(client)
        assert [r.status for r in await _runs(client, "on-tick")] == [RunStatus.SUCCEEDED]

    _run(go())


def test_cancel_event_works_only_while_pending(client: Client, clock: ManualClock) -> None:
    _echo(client, "remind", trigger=event_trigger("reminder"))

    async def go() -> None:
        withdrawn = await client.send_event("reminder", {"n": 1}, deliver_after=60)
        kept = await client.send_event("reminder", {"n": 2}, deliver_after=60)
        now = await client.send_event("reminder", {"n": 3})

        assert await client.cancel_event(withdrawn["id"]) is True
        assert await client.cancel_event(withdrawn["id"]) is False  # canceled already
        assert await client.cancel_event(now["id"]) is False  # delivered at once
        assert await client.cancel_event("no-such-event") is False

        clock.advance(60)
        await _work(client)
        assert await client.cancel_event(kept["id"]) is False  # delivered by the worker

        runs = await _runs(client)
        assert sorted(r.output["payload"]["n"] for r in runs) == [2, 3]
        assert all(r.status is RunStatus.SUCCEEDED for r in runs)
        store = await client.open()
        canceled = await store.get_event(withdrawn["id"])
        assert canceled is not None
        assert canceled.status == "canceled"

    _run(go())


def test_send_event_sync(client: Client) -> None:
    _echo(client, "welcome", trigger=event_trigger("user.created"))

    sent = client.send_event_sync("user.created", {"n": 1}, id="evt-sync")

    assert set(sent) == EVENT_KEYS
    assert (sent["id"], sent["duplicate"], len(sent["runs"])) == ("evt-sync", False, 1)
    with pytest.raises(RuntimeError, match="running event loop"):

        async def inside() -> None:
            client.send_event_sync("user.created")

        _run(inside())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"deliver_after": 5, "deliver_at": datetime.now(UTC)}, "not both"),
        ({"deliver_after": -1}, "deliver_after must be a finite number of seconds from 0 to"),
        ({"deliver_at": datetime(2030, 1, 1)}, "timezone-aware"),  # naive: an error
    ],
)
def test_bad_delivery_options_store_nothing(
    client: Client, options: dict[str, Any], message: str
) -> None:
    async def go() -> None:
        with pytest.raises(ConfigurationError, match=message):
            await client.send_event("reminder", {"n": 1}, id="evt-bad", **options)
        store = await client.open()
        assert await store.get_event("evt-bad") is None

    _run(go())


def test_an_empty_event_name_is_rejected(client: Client) -> None:
    async def go() -> None:
        with pytest.raises(ValueError, match="event name must be a non-empty string"):
            await client.send_event(" ", {"n": 1}, id="evt-bad")
        store = await client.open()
        assert await store.get_event("evt-bad") is None

    _run(go())


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(float("nan"), "nan"), (float("inf"), "inf"), (1e308, "1e+308"), (True, "True")],
)
def test_a_non_finite_delay_is_rejected(client: Client, seconds: float, shown: str) -> None:
    async def go() -> None:
        with pytest.raises(ConfigurationError) as caught:
            await client.send_event("reminder", {"n": 1}, id="evt-bad", deliver_after=seconds)
        assert caught.value.message == (
            "send_event: deliver_after must be a finite number of seconds from 0 to "
            f"3155760000 (100 years); got {shown}"
        )
        store = await client.open()
        assert await store.get_event("evt-bad") is None

    _run(go())


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("reminder", {"deliver_after": -5}),
        ("reminder", {"deliver_after": 5, "deliver_at": datetime(2031, 1, 1, tzinfo=UTC)}),
        ("", {}),
    ],
)
def test_io_send_event_validates_its_arguments_like_the_client(
    client: Client, name: str, options: dict[str, Any]
) -> None:
    @client.define_job(id="sender", version="1.0.0")
    async def sender(payload: Any, io: IO, ctx: Context) -> Any:
        return await io.send_event("send-it", name, {"n": 1}, **options)

    async def go() -> None:
        result = await client.run(sender)
        assert result.status is RunStatus.FAILED
        assert result.error is not None
        assert "send-it" in result.error["message"]
        store = await client.open()
        assert await store.list_events() == []

    _run(go())
