"""The day-one details of the ``relaykit`` command, run as the installed script in a
subprocess: full run ids and prefixes, ``runs list`` filters, read-only commands that never
create a database, ``--payload @file`` and ``-``, and what ``send``/``connect`` say."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

pytestmark = pytest.mark.subprocess

DB = ("--database", "sqlite:///relaykit.db")


def _age_runs(db: Path, seconds: float, run_ids: list[str]) -> None:
    """Move runs' creation back in time (the CLI reads the system clock)."""
    with sqlite3.connect(db) as conn:
        for run_id in run_ids:
            conn.execute(
                "UPDATE runs SET created_at = created_at - ? WHERE id = ?", (seconds, run_id)
            )


def test_runs_list_prints_full_ids_versions_and_durations(rk: Relaykit, app: str) -> None:
    ok = rk.run_json(app, "pipeline", {"n": 1}).run_object(exit_code=0)
    failed = rk.run_json(app, "explode").run_object(exit_code=1)

    done = rk("runs", "list", *DB)

    assert done.returncode == 0, done.describe()
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert set(rows) == {ok["id"], failed["id"]}, done.describe()
    assert rows[ok["id"]][1:4] == ["pipeline", "1.0.0", "succeeded"]
    assert rows[failed["id"]][1:4] == ["explode", "1.0.0", "failed"]
    assert rows[ok["id"]][-1] in ("ms", "s"), done.describe()  # a duration ends each row
    assert done.stderr.strip() == f"database: {(rk.cwd / 'relaykit.db').resolve()}"


def test_runs_show_and_cancel_take_a_unique_prefix(rk: Relaykit, app: str) -> None:
    waiting = rk.detach(app, "sleepy")
    other = rk.run_json(app, "pipeline", {"n": 1}).run_object(exit_code=0)["id"]
    common = 0
    while waiting[common] == other[common]:
        common += 1
    prefix = waiting[: common + 1]

    shown = rk("runs", "show", prefix, "--json", *DB)
    assert shown.returncode == 0, shown.describe()
    assert shown.json()["id"] == waiting

    canceled = rk("runs", "cancel", prefix, *DB)
    assert canceled.returncode == 0, canceled.describe()
    assert canceled.stdout.strip() == f"canceled run {waiting}"
    assert rk.show(waiting)["status"] == "canceled"

    ambiguous = rk("runs", "show", waiting[:common], *DB).error_line()
    assert "matches several runs" in ambiguous
    assert waiting in ambiguous and other in ambiguous
    unknown = rk("runs", "show", "run_zzzz", *DB).error_line()
    assert "no run 'run_zzzz'" in unknown


def test_runs_list_since_version_and_limit(rk: Relaykit, app: str, tmp_path: Path) -> None:
    old = rk.run_json(app, "pipeline", {"n": 1}).run_object(exit_code=0)["id"]
    new = [rk.run_json(app, "pipeline", {"n": n}).run_object(exit_code=0)["id"] for n in (2, 3)]
    _age_runs(tmp_path / "relaykit.db", 3 * 3600, [old])

    def ids(*args: str) -> list[str]:
        done = rk("runs", "list", "--json", *args, *DB)
        assert done.returncode == 0, done.describe()
        return [r["id"] for r in done.json()["data"]]

    assert ids("--since", "2h") == new[::-1]
    assert ids("--since", "4h") == [*new[::-1], old]
    assert ids("--since", "10m", "--limit", "1") == [new[1]]
    yesterday = (datetime.now() - timedelta(days=1)).date().isoformat()
    assert ids("--since", yesterday) == [*new[::-1], old]
    tomorrow = (datetime.now() + timedelta(days=1)).date().isoformat()
    assert ids("--since", tomorrow) == []
    assert ids("--version", "1.0.0") == [*new[::-1], old]
    assert ids("--version", "2.0.0") == []

    bad = rk("runs", "list", "--since", "yesterday", *DB).error_line()
    assert "--since 'yesterday'" in bad


@pytest.mark.parametrize(
    "command",
    [
        ("runs", "list"),
        ("runs", "show", "run_x"),
        ("runs", "cancel", "run_x"),
        ("runs", "replay", "run_x"),
        ("connections", "list"),
        ("check-replay", "app.py"),
    ],
)
def test_read_commands_never_create_a_database(
    rk: Relaykit, app: str, command: tuple[str, ...]
) -> None:
    line = rk(*command).error_line()

    default = (rk.cwd / ".relaykit" / "relaykit.db").resolve()
    assert f"no database at {default}" in line
    assert not (rk.cwd / ".relaykit").exists()

    missing_file = rk(*command, "--database", "sqlite:///elsewhere.db").error_line()
    assert f"no database at {(rk.cwd / 'elsewhere.db').resolve()}" in missing_file
    assert not (rk.cwd / "elsewhere.db").exists()


DAILY_APP = '''\
"""Jobs for the day-one CLI tests: a cron job, an interval job, an event job that uses an
integration with a stored connection."""

from typing import Any

import relaykit
from relaykit import Client, cron_trigger, event_trigger, interval_trigger


class Notes(relaykit.Integration):
    slug = "notes"

    def create_client(self, credentials: relaykit.Credentials) -> Any:
        return None


client = Client(id="daily")
notes = Notes(id="notes-main")


@client.define_job(id="nightly", version="1.0.0", trigger=cron_trigger("0 3 * * *"))
async def nightly(payload: Any, io: Any, ctx: Any) -> Any:
    return payload


@client.define_job(id="tick", version="1.0.0", trigger=interval_trigger(seconds=90))
async def tick(payload: Any, io: Any, ctx: Any) -> Any:
    return payload


@client.define_job(
    id="pro-signup",
    version="1.0.0",
    trigger=event_trigger("user.created", filter={"plan": ["pro"]}),
    integrations={"notes": notes},
)
async def pro_signup(payload: Any, io: Any, ctx: Any) -> Any:
    return payload
'''


@pytest.fixture
def daily_app(tmp_path: Path) -> str:
    (tmp_path / "daily.py").write_text(DAILY_APP, encoding="utf-8")
    return "daily.py"


def test_payload_from_a_file_and_from_stdin(rk: Relaykit, app: str) -> None:
    (rk.cwd / "payload.json").write_text('{"n": 20}', encoding="utf-8")

    run = ("run", app, "pipeline", "--json", *DB)
    from_file = rk(*run, "--payload", "@payload.json").run_object(exit_code=0)
    from_stdin = rk(*run, "--payload", "-", input='{"n": 30}')

    assert from_file["payload"] == {"n": 20}
    assert from_file["output"] == {"first": 40, "nested": 43}
    assert from_stdin.returncode == 0, from_stdin.describe()
    assert from_stdin.json()["payload"] == {"n": 30}

    missing = rk("run", app, "pipeline", "--payload", "@nope.json", *DB).error_line()
    assert f"cannot read {(rk.cwd / 'nope.json').resolve()}" in missing
    (rk.cwd / "bad.json").write_text("{oops", encoding="utf-8")
    bad = rk("run", app, "pipeline", "--payload", "@bad.json", *DB).error_line()
    assert "--payload (read from @bad.json) is not valid JSON" in bad
    assert len(rk.list_runs()) == 2  # nothing was stored for bad input


def test_send_says_when_an_event_matched_no_job(rk: Relaykit, daily_app: str) -> None:
    (rk.cwd / "free.json").write_text('{"plan": "free"}', encoding="utf-8")

    filtered = rk("send", daily_app, "user.created", "--payload", "@free.json", *DB)
    unknown = rk("send", daily_app, "user.deleted", *DB)
    started = rk("send", daily_app, "user.created", "--payload", "-", *DB, input='{"plan":"pro"}')

    assert filtered.returncode == 0, filtered.describe()
    assert "matched no job (the filters of pro-signup did not match its payload)" in (
        filtered.stdout
    )
    assert unknown.returncode == 0, unknown.describe()
    assert "matched no job (no job triggers on 'user.deleted'; the app's jobs trigger on: " in (
        unknown.stdout
    )
    assert "user.created" in unknown.stdout
    assert started.returncode == 0, started.describe()
    assert "started 1 run(s): run_" in started.stdout


def test_a_manual_run_of_a_scheduled_job_gets_a_fire_payload(rk: Relaykit, daily_app: str) -> None:
    before = datetime.now().astimezone()
    cron = rk.run_json(daily_app, "nightly").run_object(exit_code=0)
    interval = rk.run_json(daily_app, "tick").run_object(exit_code=0)
    given = rk.run_json(daily_app, "nightly", {"ts": "mine"}).run_object(exit_code=0)

    ts = datetime.fromisoformat(cron["output"]["ts"])
    last = datetime.fromisoformat(cron["output"]["last_ts"])
    assert before - timedelta(seconds=1) <= ts <= datetime.now().astimezone()
    assert (last.hour, last.minute, last.second) == (3, 0, 0)  # 0 3 * * * in UTC
    assert timedelta(0) <= ts - last < timedelta(days=1)
    tick_ts = datetime.fromisoformat(interval["output"]["ts"])
    assert tick_ts - datetime.fromisoformat(interval["output"]["last_ts"]) == timedelta(seconds=90)
    assert given["output"] == {"ts": "mine"}  # a payload given is used as is


def test_connect_checks_the_integrations_the_app_declares(rk: Relaykit, daily_app: str) -> None:
    env = {"RELAYKIT_SECRET_KEY": "x" * 43 + "="}

    line = rk("connect", "notes", "--app", daily_app, "--token-stdin", *DB, env=env).error_line()

    assert line == (
        "relaykit: error: relaykit connect notes: daily.py declares no integration 'notes' "
        "(its jobs declare: notes-main)"
    )
    assert not (rk.cwd / "relaykit.db").exists()


def test_a_worker_without_a_usable_secret_key_refuses_to_start(
    rk: Relaykit, daily_app: str
) -> None:
    for env in ({"RELAYKIT_SECRET_KEY": ""}, {"RELAYKIT_SECRET_KEY": "not-a-key"}):
        line = rk("worker", daily_app, "--exit-when-idle", *DB, env=env).error_line()
        assert line.startswith(
            "relaykit: error: relaykit worker: integration(s) notes-main read stored "
            "connections, which need RELAYKIT_SECRET_KEY: "
        ), line
    # refused before it listens (the port is never bound)
    served = rk("serve", daily_app, "--port", "9", *DB, env={"RELAYKIT_SECRET_KEY": ""}, timeout=20)
    assert "relaykit serve: integration(s) notes-main" in served.error_line()


def test_a_worker_prints_each_run_end_and_a_summary_on_stop(rk: Relaykit, app: str) -> None:
    ok = rk.detach(app, "pipeline", {"n": 1})
    failed = rk.detach(app, "explode")

    done = rk.worker_until_idle(app)

    lines = done.stderr.splitlines()
    assert f"run {ok} of job pipeline succeeded in " in done.stderr, done.describe()
    ended = [line for line in lines if line.startswith(f"run {failed} of job explode failed in ")]
    assert len(ended) == 1, done.describe()
    assert ended[0].endswith("NonRetriable: the widget is broken"), ended  # never wrapped
    assert "runs ended: 1 failed, 1 succeeded" in lines, done.describe()
    summary = lines.index("runs ended: 1 failed, 1 succeeded")
    assert lines[summary + 1] == "1 run(s) did not succeed:"
    assert lines[summary + 2].startswith(f"  run {failed} of job explode failed in ")
    assert "NonRetriable: the widget is broken" in lines[summary + 2]


def test_runs_show_prints_the_date_of_a_wait_days_away(rk: Relaykit, app: str) -> None:
    far = rk.detach(app, "pause", {"seconds": 14 * 86400}, db=DB)
    near = rk.detach(app, "sleepy", db=DB)  # waits an hour
    rk.worker_until_idle(app, db=DB)

    shown = rk("runs", "show", far, *DB)
    soon = rk("runs", "show", near, *DB)

    assert shown.returncode == 0, shown.describe()
    (task,) = [t for t in rk.show(far, db=DB)["tasks"] if t["key"] == "pause"]
    assert task["status"] == "waiting"
    run = rk.show(far, db=DB)
    due = rk.time(run["next_attempt_at"]).astimezone()
    (line,) = [ln for ln in shown.stdout.splitlines() if "pause" in ln and "until" in ln]
    assert f"wait until {due.strftime('%a %Y-%m-%d %H:%M')}" in line, shown.describe()
    (nap,) = [ln for ln in soon.stdout.splitlines() if "until" in ln]
    assert re.search(r"wait until \d\d:\d\d:\d\d\.\d{3}$", nap.rstrip()), soon.describe()
