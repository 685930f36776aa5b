"""A schedule whose fire times cannot be computed never takes ``relaykit worker`` down.

Before cron expressions were checked for ever firing, ``0 0 30 2 *`` (February 30) was
accepted, stored, and then crashed every worker at start. Here the database holds such a
schedule (stored the way an older relaykit did) beside a healthy one, and the app defines a
job whose trigger skips ``cron_trigger``'s checks: the worker logs one line per bad schedule,
naming it, fires the healthy schedule, executes its run and exits 0.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import TYPE_CHECKING

import pytest

from relaykit import Client, InvalidJobDefinition
from relaykit.definitions.triggers import DynamicSchedule
from relaykit.records import ScheduleSpec

if TYPE_CHECKING:
    from pathlib import Path

    from tests.acceptance.conftest import Relaykit

APP = '''\
"""Scheduled jobs, one of them with a trigger that never fires."""

from typing import Any

from relaykit import Client
from relaykit.definitions.triggers import CronTrigger

client = Client(id="bad-schedules")
digest = client.define_schedule("digest")


@client.define_job(id="send-digest", version="1.0.0", trigger=digest)
async def send_digest(payload: Any, io: Any, ctx: Any) -> Any:
    return payload["key"]


# Made directly, a CronTrigger skips cron_trigger's checks: February 30 never comes.
@client.define_job(id="never", version="1.0.0", trigger=CronTrigger(expr="0 0 30 2 *"))
async def never(payload: Any, io: Any, ctx: Any) -> None:
    return None
'''

BAD = "dynamic:digest:send-digest:old-user"
GOOD = "dynamic:digest:send-digest:ada"


def _store_schedules(db: Path) -> None:
    """Store a due healthy schedule and a due never-firing one, as an older relaykit would."""

    async def go() -> None:
        client = Client(id="bad-schedules", database_url=f"sqlite:///{db}")
        store = await client.open()
        specs = [
            ScheduleSpec(GOOD, "send-digest", "interval", "3600"),
            ScheduleSpec(BAD, "send-digest", "cron", "0 0 30 2 *"),
        ]
        await store.sync_schedules(specs, first_fire=lambda spec: time.time() - 60)
        await client.close()

    asyncio.run(go())


def _active(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT id, active FROM schedules").fetchall())


def test_a_bad_schedule_is_logged_once_and_skipped(rk: Relaykit, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    db = tmp_path / "relaykit.db"
    _store_schedules(db)

    done = rk.worker_until_idle("app.py", db=("--database", f"sqlite:///{db}"))

    lines = done.stderr.splitlines()
    bad_lines = [line for line in lines if BAD in line]
    never_lines = [line for line in lines if "'job:never'" in line]
    assert len(bad_lines) == 1, done.describe()
    assert "cron '0 0 30 2 *' in UTC" in bad_lines[0]
    assert "job 'send-digest'" in bad_lines[0]
    assert "deactivated" in bad_lines[0]
    assert len(never_lines) == 1, done.describe()
    assert "job 'never'" in never_lines[0] and "skipped" in never_lines[0]
    assert "Traceback" not in done.stderr, done.describe()

    runs = rk.list_runs(db=("--database", f"sqlite:///{db}"))
    assert [(r["job"], r["status"], r["output"]) for r in runs] == [
        ("send-digest", "succeeded", "ada")
    ]
    assert _active(db) == {GOOD: 1, BAD: 0}  # the bad row is kept, deactivated

    # A second worker is quiet about the deactivated schedule (the job's own trigger is
    # reported at every start, since it is never stored).
    again = rk.worker_until_idle("app.py", db=("--database", f"sqlite:///{db}"))
    assert BAD not in again.stderr, again.describe()
    assert again.stderr.count("'job:never'") == 1, again.describe()


def test_registering_the_key_again_with_a_valid_cron_revives_it(tmp_path: Path) -> None:
    db = tmp_path / "relaykit.db"
    _store_schedules(db)

    async def go() -> None:
        client = Client(id="bad-schedules", database_url=f"sqlite:///{db}")
        digest = client.define_schedule("digest")

        @client.define_job(id="send-digest", version="1.0.0", trigger=digest)
        async def send_digest(payload: object, io: object, ctx: object) -> None:
            return None

        assert isinstance(digest, DynamicSchedule)
        await client.worker(exit_when_idle=True).run()
        assert _active(db)[BAD] == 0
        with pytest.raises(InvalidJobDefinition, match=r"'0 0 30 2 \*' never fires"):
            await digest.register("old-user", cron="0 0 30 2 *")
        await digest.register("old-user", cron="0 9 * * *")
        assert _active(db)[BAD] == 1
        await client.close()

    asyncio.run(go())
