"""The DBOS half of the task-overhead benchmark, run as a subprocess by task_overhead.py.

    python benchmarks/_dbos_side.py --workload one-run --sqlite-mode normal --db PATH
    python benchmarks/_dbos_side.py --workload one-run --database-url postgresql://...

Measures DBOS Transact's per-step and per-workflow overhead on a SQLite system database, with
the same workloads as ``_relaykit_side.py``: ``one-run`` is one workflow of N sequential no-op
steps; ``many-runs`` is R workflows of K no-op steps each, each started (``DBOS.start_workflow``)
and awaited (``get_result``) before the next. Steps and workflows are synchronous, DBOS's usual
form. ``--sqlite-mode normal`` puts DBOS's own connections in WAL mode with synchronous=NORMAL;
``default`` leaves DBOS's pragmas alone. With ``--database-url`` (a PostgreSQL database, used
by task_overhead_postgres.py) that database is DBOS's system database and ``--db`` and
``--sqlite-mode`` are ignored. Prints one JSON line; DBOS's logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig

# How "normal" mode reaches DBOS's connections. DBOS 3.x builds its SQLite system-database
# engine itself (SQLiteSystemDatabase._create_engine: sa.create_engine(url) plus a "connect"
# listener that sets isolation_level=IMMEDIATE, busy_timeout and foreign_keys); there is no
# config key for pragmas, and passing our own `system_database_engine` would drop that listener.
# So we register a "connect" listener on the Engine *class* (SQLAlchemy's documented recipe for
# SQLite pragmas), before DBOS creates its engine: it runs on every DBAPI connection any engine
# opens, DBOS's included. To make sure it took effect, the listener reads each pragma back on
# the connection it just set (_CONFIGURED) and, after the workload, `_pragmas` queries them on a
# connection checked out of DBOS's own engine (DBOS._sys_db.engine); both must be wal / 1.
_CONFIGURED: list[tuple[str, int]] = []


def _set_wal_normal(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
    _CONFIGURED.append((mode, cursor.execute("PRAGMA synchronous").fetchone()[0]))
    cursor.close()


@DBOS.step()
def noop() -> None:
    """The step body: nothing, so only DBOS's own cost is measured."""


@DBOS.workflow()
def steps(count: int) -> int:
    """Run ``count`` no-op steps one after another."""
    for _ in range(count):
        noop()
    return count


def _run(count: int) -> None:
    result = DBOS.start_workflow(steps, count).get_result()
    assert result == count, result


def _pragmas(dbos: DBOS) -> tuple[str, int]:
    """journal_mode and synchronous on a connection from DBOS's own system-database pool."""
    with dbos._sys_db.engine.connect() as conn:
        journal = conn.execute(sa.text("PRAGMA journal_mode")).scalar_one()
        synchronous = conn.execute(sa.text("PRAGMA synchronous")).scalar_one()
    return str(journal), int(synchronous)


def bench(workload: str, mode: str, db: str, runs: int, per_run: int) -> dict[str, Any]:
    """Launch DBOS, warm up, time ``runs`` workflows of ``per_run`` steps, destroy DBOS.

    ``db`` is a SQLite file, or a PostgreSQL URL (then ``mode`` is ignored)."""
    postgres = "://" in db
    if postgres:
        mode = "postgres"
    if mode == "normal":
        sa.event.listen(sa.Engine, "connect", _set_wal_normal)
    config: DBOSConfig = {
        "name": "bench",
        "system_database_url": db if postgres else f"sqlite:///{db}",
        "log_level": "WARNING",  # DBOS logs to stderr (a StreamHandler); keep them short
    }
    dbos = DBOS(config=config)
    try:
        DBOS.launch()
        _run(3)  # warm-up: migrations done, pool connections opened, code paths hot
        started = time.perf_counter()
        for _ in range(runs):
            _run(per_run)
        seconds = time.perf_counter() - started
        journal, synchronous = ("", -1) if postgres else _pragmas(dbos)
    finally:
        DBOS.destroy()
    if mode == "normal":
        assert _CONFIGURED, "the connect listener never ran on DBOS's connections"
        assert all(c == ("wal", 1) for c in _CONFIGURED), _CONFIGURED
        assert (journal, synchronous) == ("wal", 1), (journal, synchronous)
        print(f"WAL + synchronous=NORMAL set on {len(_CONFIGURED)} connections", file=sys.stderr)
    total = runs * per_run
    return {
        "peer": "dbos",
        "dbos_version": version("dbos"),
        "workload": workload,
        "sqlite_mode": mode,
        "journal_mode": journal,
        "synchronous": synchronous,
        "tasks": total,
        "runs": runs,
        "seconds": seconds,
        "us_per_task": seconds / total * 1e6,
        "runs_per_s": runs / seconds,
    }


def main() -> None:
    """Parse arguments, run one workload, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", choices=["one-run", "many-runs"], required=True)
    parser.add_argument("--sqlite-mode", choices=["normal", "default"], default="default")
    parser.add_argument("--db", help="SQLite file")
    parser.add_argument("--database-url", help="a PostgreSQL URL, instead of --db")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--tasks-per-run", type=int, default=3)
    args = parser.parse_args()
    db = args.database_url or args.db
    if not db:
        parser.error("one of --db and --database-url is needed")
    if args.workload == "one-run":
        runs, per_run = 1, args.tasks
    else:
        runs, per_run = args.runs, args.tasks_per_run
    print(json.dumps(bench(args.workload, args.sqlite_mode, db, runs, per_run)))


if __name__ == "__main__":
    main()
