"""``relaykit send APP NAME``: send an event; ``relaykit worker APP`` executes the runs it starts.

The app here has its own event-triggered jobs (written beside the acceptance app). ``--json``
prints the event as one line; an id sent twice is one event and one set of runs; a delayed
event is stored pending and delivered by a worker once due; bad input stores nothing.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tests.acceptance._shapes import check_component

from relaykit.engine.resources import EventSent

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

DB = ("--database", "sqlite:///relaykit.db")
#: The ``EventSent`` resource the API answers ``POST /api/v1/events`` with.
EVENT_KEYS = set(EventSent.model_fields)

EVENTS_APP = '''\
"""Event-triggered jobs for the ``relaykit send`` acceptance tests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from relaykit import Client, Context, event_trigger

client = Client(id="events")


class Signup(BaseModel):
    email: str


@client.define_job(id="welcome", version="1.0.0", trigger=event_trigger("user.created"))
async def welcome(payload: Any, io: Any, ctx: Context) -> dict[str, Any]:
    return {"event": ctx.event.id, "payload": payload}


@client.define_job(
    id="pro-welcome",
    version="1.0.0",
    trigger=event_trigger("user.created", filter={"plan": ["pro"]}),
)
async def pro_welcome(payload: Any, io: Any, ctx: Context) -> str:
    return "pro"


@client.define_job(
    id="signup", version="1.0.0", trigger=event_trigger("user.created", schema=Signup)
)
async def signup(payload: Signup, io: Any, ctx: Context) -> str:
    return payload.email


@client.define_job(id="off", version="1.0.0", trigger=event_trigger("user.created"), enabled=False)
async def off(payload: Any, io: Any, ctx: Context) -> str:
    return "never"
'''


@pytest.fixture
def events_app(tmp_path: Path) -> str:
    """The events app written to ``tmp_path/events_app.py``; returns the APP argument."""
    (tmp_path / "events_app.py").write_text(EVENTS_APP, encoding="utf-8")
    return "events_app.py"


def _send(rk: Relaykit, app: str, name: str, *args: str) -> dict[str, Any]:
    """``relaykit send APP NAME ARGS --json``: exit 0 and one event object on one line."""
    done = rk("send", app, name, *args, "--json", *DB)
    assert done.returncode == 0, done.describe()
    assert done.stderr == "", done.describe()
    event = done.json()
    assert isinstance(event, dict), done.describe()
    assert set(event) == EVENT_KEYS, done.describe()
    check_component(event, "EventSent")
    assert isinstance(event["id"], str) and event["id"]
    assert event["name"] == name
    assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None
    assert isinstance(event["runs"], list)
    assert all(isinstance(r, str) and r for r in event["runs"])
    assert isinstance(event["duplicate"], bool)
    return event


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _stored_events(rk: Relaykit) -> list[tuple[str, str]]:
    """(id, status) of every event in the test's database (none when it was never created)."""
    path = rk.cwd / "relaykit.db"
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "events" not in tables:
            return []
        return list(conn.execute("SELECT id, status FROM events ORDER BY id"))


def test_send_starts_runs_that_a_worker_executes(rk: Relaykit, events_app: str) -> None:
    payload = {"email": "ada@example.com", "plan": "pro"}
    event = _send(rk, events_app, "user.created", "--payload", json.dumps(payload))

    assert event["payload"] == payload
    assert (event["deliver_at"], event["duplicate"]) == (None, False)
    assert len(event["runs"]) == 3  # welcome, pro-welcome, signup; not the disabled job
    queued = {r["id"]: r for r in rk.list_runs()}
    assert set(queued) == set(event["runs"])
    assert {r["status"] for r in queued.values()} == {"queued"}

    rk.worker_until_idle(events_app)

    runs = {r["job"]: r for r in (rk.show(i) for i in event["runs"])}
    assert set(runs) == {"welcome", "pro-welcome", "signup"}
    assert {r["status"] for r in runs.values()} == {"succeeded"}
    assert runs["welcome"]["output"] == {"event": event["id"], "payload": payload}
    assert runs["signup"]["output"] == "ada@example.com"
    assert _stored_events(rk) == [(event["id"], "delivered")]


def test_a_filter_and_a_schema_decide_per_job(rk: Relaykit, events_app: str) -> None:
    event = _send(rk, events_app, "user.created", "--payload", '{"plan": "free"}')

    assert len(event["runs"]) == 2  # pro-welcome's filter does not match
    rk.worker_until_idle(events_app)
    runs = {r["job"]: r["status"] for r in (rk.show(i) for i in event["runs"])}
    assert runs == {"welcome": "succeeded", "signup": "invalid_payload"}  # no email


def test_an_event_no_job_wants_is_stored_and_starts_nothing(rk: Relaykit, events_app: str) -> None:
    event = _send(rk, events_app, "nobody.listens")

    assert (event["payload"], event["runs"]) == (None, [])
    assert rk.list_runs() == []
    assert _stored_events(rk) == [(event["id"], "delivered")]


def test_the_same_id_twice_is_a_duplicate_with_no_new_runs(rk: Relaykit, events_app: str) -> None:
    args = ("--payload", '{"plan": "pro"}', "--id", "evt-signup-42")
    first = _send(rk, events_app, "user.created", *args)
    rk.worker_until_idle(events_app)
    second = _send(rk, events_app, "user.created", *args)
    rk.worker_until_idle(events_app)

    assert first["id"] == second["id"] == "evt-signup-42"
    assert (first["duplicate"], len(first["runs"])) == (False, 3)
    assert (second["duplicate"], second["runs"]) == (True, [])
    assert sorted(r["id"] for r in rk.list_runs()) == sorted(first["runs"])
    assert _stored_events(rk) == [("evt-signup-42", "delivered")]


def test_human_output_names_the_event_and_its_runs(rk: Relaykit, events_app: str) -> None:
    done = rk("send", events_app, "user.created", "--id", "evt-human", *DB)

    assert done.returncode == 0, done.describe()
    assert "evt-human" in done.stdout
    assert "2 run(s)" in done.stdout  # welcome, and signup (which will be invalid_payload)
    again = rk("send", events_app, "user.created", "--id", "evt-human", *DB)
    assert again.returncode == 0, again.describe()
    assert "sent before" in again.stdout


def test_a_delayed_event_waits_pending_until_due(rk: Relaykit, events_app: str) -> None:
    event = _send(rk, events_app, "user.created", "--deliver-after", "3600")

    assert event["runs"] == []
    assert _epoch(event["deliver_at"]) == pytest.approx(_epoch(event["timestamp"]) + 3600)
    rk.worker_until_idle(events_app)  # nothing is due: the worker exits at once

    assert rk.list_runs() == []
    assert _stored_events(rk) == [(event["id"], "pending")]


def test_a_delayed_event_is_delivered_by_a_worker_once_due(rk: Relaykit, events_app: str) -> None:
    event = _send(rk, events_app, "user.created", "--payload", "{}", "--deliver-after", "0.5")

    assert event["runs"] == []
    assert _epoch(event["deliver_at"]) == pytest.approx(_epoch(event["timestamp"]) + 0.5)
    assert _stored_events(rk) == [(event["id"], "pending")]  # only a worker delivers it
    assert rk.list_runs() == []

    time.sleep(max(0.0, _epoch(event["deliver_at"]) - time.time()))
    rk.worker_until_idle(events_app)

    runs = rk.snapshot()
    assert sorted(r["job"] for r in runs) == ["signup", "welcome"]
    welcome = next(r for r in runs if r["job"] == "welcome")
    assert welcome["status"] == "succeeded"
    assert welcome["output"]["event"] == event["id"]
    assert _stored_events(rk) == [(event["id"], "delivered")]
    rk.worker_until_idle(events_app)
    assert len(rk.list_runs()) == 2  # delivered once


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("events_app.py", "user.created", "--payload", "{bad"), "--payload is not valid JSON"),
        (("events_app.py", "user.created", "--payload", "NaN"), "--payload is not valid JSON"),
        (("missing.py", "user.created", "--payload", "{}"), "missing.py"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_stores_nothing(
    rk: Relaykit, events_app: str, args: tuple[str, ...], message: str
) -> None:
    done = rk("send", *args, "--json", *DB)

    assert message in done.error_line()  # exit 2, nothing on stdout, one line on stderr
    assert _stored_events(rk) == []
    # `runs list` never creates a database: none at all is nothing stored
    assert not (rk.cwd / "relaykit.db").exists() or rk.list_runs() == []


def test_an_empty_event_name_is_a_usage_error(rk: Relaykit, events_app: str) -> None:
    done = rk("send", events_app, "", "--json", *DB)

    assert "name" in done.error_line()
    assert _stored_events(rk) == []


@pytest.mark.parametrize("seconds", ["inf", "nan"])
def test_a_non_finite_delay_is_a_usage_error(rk: Relaykit, events_app: str, seconds: str) -> None:
    done = rk("send", events_app, "user.created", "--deliver-after", seconds, "--json", *DB)

    assert done.returncode == 2, done.describe()
    assert done.stdout == "", done.describe()
    assert _stored_events(rk) == []
