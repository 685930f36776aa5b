"""The day-one details of the ``relaykit`` command, run as the installed script in a
subprocess: full run ids and prefixes, ``runs list`` filters, read-only commands that never
create a database, ``--payload @file`` and ``-``, and what ``send``/``connect`` say."""

from __future__ import annotations

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
    ],
)
def test_read_commands_never_create_a_database(rk: Relaykit, command: tuple[str, ...]) -> None:
    line = rk(*command).error_line()

    default = (rk.cwd / ".relaykit" / "relaykit.db").resolve()
    assert f"no database at {default}" in line
    assert not (rk.cwd / ".relaykit").exists()

    missing_file = rk(*command, "--database", "sqlite:///elsewhere.db").error_line()
    assert f"no database at {(rk.cwd / 'elsewhere.db').resolve()}" in missing_file
    assert not (rk.cwd / "elsewhere.db").exists()
