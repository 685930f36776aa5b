"""The SQL of ``PostgresStore``, in one place: statements, their parameter rows, migrations.

The schema is ``migrations/postgres/NNNN_*.sql``. Every value is bound as a parameter; the
f-strings below only assemble constant column lists. A task row goes through the same
``TaskRecord`` columns and decoding as in SQLite (``sqlite.TASK_COLS``/``task_from_row``), so
both stores hand the engine identical records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

import psycopg

from .._models import EventRecord, KvWrite, LogRecord, TaskRecord
from . import migrations
from ._rows import RUN_COLS, TASK_COLS, log_params

Conn = psycopg.AsyncConnection[tuple[Any, ...]]

#: The LISTEN/NOTIFY channel; the payload is the job id of the run concerned (empty for an
#: event waiting to be delivered).
WAKEUP_CHANNEL: Final = "relaykit_wakeup"
NOTIFY: Final = f"pg_notify('{WAKEUP_CHANNEL}', job_id)"
NOTIFY_EVENT: Final = f"pg_notify('{WAKEUP_CHANNEL}', '')"
# Held for the duration of a migration transaction, so concurrent workers never race
# (the value is arbitrary; it spells "rlkmig").
MIGRATION_LOCK: Final = 0x726C6B6D6967

# -- runs -------------------------------------------------------------------------------------

# A queued (or waiting) run wakes listening workers; NOTIFY is delivered at commit.
CREATE_RUN: Final = (
    f"WITH ins AS (INSERT INTO runs ({RUN_COLS}) VALUES ({', '.join(['%s'] * 18)}) "
    "RETURNING job_id, status) "
    f"SELECT {NOTIFY} FROM ins WHERE status IN ('queued', 'waiting')"
)
GET_RUN: Final = f"SELECT {RUN_COLS} FROM runs WHERE id = %s"
LIST_RUNS: Final = (
    f"SELECT {RUN_COLS} FROM runs WHERE {{where}} ORDER BY created_at DESC, id DESC "
    "LIMIT %s OFFSET %s"
)
_RUNNABLE: Final = (
    "((status IN ('queued', 'waiting') AND next_attempt_at <= %(now)s) "
    "OR (status = 'running' AND lease_expires_at < %(now)s))"
)
# Rows another worker is claiming right now are skipped, never waited for.
_CLAIM: Final = f"""
UPDATE runs SET status = 'running', lease_owner = %(owner)s,
    lease_expires_at = %(lease_until)s, attempt = attempt + 1,
    started_at = COALESCE(started_at, %(now)s)
WHERE id IN (
    SELECT id FROM runs WHERE job_id = ANY(%(jobs)s) {{only}} AND {_RUNNABLE}
    ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
RETURNING {RUN_COLS}
"""
CLAIM_RUNS: Final = _CLAIM.format(only="")
CLAIM_RUN: Final = _CLAIM.format(only="AND id = %(run_id)s")
RENEW_LEASES: Final = (
    "UPDATE runs SET lease_expires_at = %s WHERE lease_owner = %s AND status = 'running' "
    "AND id = ANY(%s) RETURNING id"
)
RELEASE_RUNS: Final = (
    "WITH released AS (UPDATE runs SET status = 'waiting', next_attempt_at = %s, "
    "lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = %s "
    "AND status = 'running' AND id = ANY(%s) RETURNING job_id) "
    f"SELECT {NOTIFY} FROM (SELECT DISTINCT job_id FROM released) AS j"
)
# Cancelling takes three statements in one transaction: the tasks and event waits are read
# after the run row is locked (and any end_attempt that held it has committed), so none that
# attempt wrote is left behind.
CANCEL_RUN: Final = (
    "UPDATE runs SET status = 'canceled', ended_at = %(now)s, "
    "lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = NULL "
    "WHERE id = %(id)s AND status IN "
    "('queued', 'running', 'waiting', 'waiting_for_connection')"
)
# A run that ended leaves no task waiting forever.
CANCEL_LEFTOVER_TASKS: Final = (
    "UPDATE tasks SET status = 'canceled', ended_at = %(ended)s, next_attempt_at = NULL "
    "WHERE run_id = %(id)s AND status IN ('waiting', 'running')"
)
DROP_EVENT_WAITS: Final = "DELETE FROM event_waits WHERE run_id = %(id)s"
_PENDING_DUE: Final = "COALESCE(deliver_at, timestamp)"
NEXT_WAKEUP: Final = (
    "SELECT LEAST("
    "(SELECT MIN(next_attempt_at) FROM runs WHERE status IN ('queued', 'waiting') "
    " AND job_id = ANY(%(jobs)s)), "
    "(SELECT MIN(lease_expires_at) FROM runs WHERE status = 'running' "
    " AND job_id = ANY(%(jobs)s)), "
    f"(SELECT MIN({_PENDING_DUE}) FROM events WHERE status = 'pending'), "
    "(SELECT MIN(next_fire_at) FROM schedules WHERE active))"
)
HAS_UNFINISHED_WORK: Final = (
    "SELECT EXISTS (SELECT 1 FROM runs WHERE job_id = ANY(%(jobs)s) AND ("
    "(status IN ('queued', 'waiting') AND next_attempt_at <= %(now)s) OR status = 'running')) "
    "OR EXISTS (SELECT 1 FROM events WHERE status = 'pending' "
    f"AND {_PENDING_DUE} <= %(now)s) "
    "OR EXISTS (SELECT 1 FROM schedules WHERE active AND next_fire_at <= %(now)s)"
)

# -- ending an attempt ------------------------------------------------------------------------

# Fenced on the lease like a task write: the run's job id comes back only if the lease held,
# and goes out as a NOTIFY when the run will wake at a known time.
_ENDED_CTE: Final = (
    "ended AS (UPDATE runs SET status = %(status)s, output = %(output)s, error = %(error)s, "
    "ended_at = %(ended)s, next_attempt_at = %(wake_at)s, lease_owner = NULL, "
    "lease_expires_at = NULL WHERE id = %(id)s AND lease_owner = %(owner)s "
    "AND status = 'running' RETURNING job_id)"
)
_ENDED_SELECT: Final = f"SELECT CASE WHEN %(wakes)s::boolean THEN {NOTIFY} END FROM ended"
END_ATTEMPT: Final = f"WITH {_ENDED_CTE} {_ENDED_SELECT}"
# A run that ended (no tasks or logs to write) as one statement: the leftover tasks canceled
# and the event waits dropped with it.
END_ATTEMPT_ENDED: Final = (
    f"WITH {_ENDED_CTE}, leftover AS ({CANCEL_LEFTOVER_TASKS} AND EXISTS (SELECT FROM ended)), "
    f"dropped AS ({DROP_EVENT_WAITS} AND EXISTS (SELECT FROM ended)) "
    f"{_ENDED_SELECT}"
)
INSERT_EVENT_WAIT: Final = (
    "INSERT INTO event_waits (run_id, task_key, event_name, filter) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (run_id, task_key) DO NOTHING"
)
# A separate statement after the run row is locked: an event that resolved one of the run's
# waits while the attempt ran (and committed before the lock was granted) is seen here, and
# makes the run due at once.
DUE_IF_MATCHED: Final = (
    "WITH due AS (UPDATE runs SET next_attempt_at = %(now)s WHERE id = %(id)s AND EXISTS "
    "(SELECT 1 FROM event_waits WHERE run_id = %(id)s AND event_id IS NOT NULL) "
    f"RETURNING job_id) SELECT {NOTIFY} FROM due"
)

# -- tasks, logs, events, key-value store -----------------------------------------------------

# Explicit types: the values come through a SELECT, where PostgreSQL cannot infer them.
_TASK_VALUES: Final = (
    "%s::text, %s::text, %s::text, %s::text, %s::text, %s::float8, %s::text, %s::text, "
    "%s::text, %s::int4, %s::int4, %s::float8, %s::float8, %s::text, %s::text, %s::text"
)
_TASK_ON_CONFLICT: Final = """
ON CONFLICT (run_id, key) DO UPDATE SET
    name = excluded.name, kind = excluded.kind, status = excluded.status,
    params = excluded.params, output = excluded.output, error = excluded.error,
    attempts = excluded.attempts, failures = excluded.failures, ended_at = excluded.ended_at,
    next_attempt_at = excluded.next_attempt_at, properties = excluded.properties,
    icon = excluded.icon
"""
# The hot path: one statement per completed task, parameters (run id, owner, *task row).
# The fence locks the run row FOR SHARE, and only while this owner holds it: a claim
# (FOR UPDATE) or cancel that commits first makes it select no row, so nothing is written;
# one that comes later waits for this write to commit, so its worker reads the task.
UPSERT_TASK: Final = f"""
WITH fence AS (
    SELECT 1 FROM runs WHERE id = %s AND lease_owner = %s AND status = 'running' FOR SHARE
)
INSERT INTO tasks (run_id, {TASK_COLS}) SELECT {_TASK_VALUES} FROM fence
{_TASK_ON_CONFLICT}
"""
# Inside end_attempt the run row's fenced UPDATE already proved (and locked) the lease.
UPSERT_TASK_UNFENCED: Final = (
    f"INSERT INTO tasks (run_id, {TASK_COLS}) VALUES ({_TASK_VALUES}) {_TASK_ON_CONFLICT}"
)
LOAD_TASKS: Final = f"SELECT {TASK_COLS} FROM tasks WHERE run_id = %s ORDER BY started_at, key"
INSERT_LOG: Final = (
    "INSERT INTO logs (run_id, key, level, message, properties, at, task) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, key) DO NOTHING"
)
LOAD_LOGS: Final = (
    "SELECT key, level, message, properties, at, task FROM logs WHERE run_id = %s ORDER BY at, key"
)
_INSERT_EVENT: Final = (
    "INSERT INTO events (id, name, payload, source, timestamp, deliver_at, sent_by_run, "
    "status) VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending') ON CONFLICT (id) DO NOTHING"
)
# A new pending event wakes listening workers (their delivery loop routes it when due).
INSERT_EVENT: Final = f"WITH ins AS ({_INSERT_EVENT} RETURNING 1) SELECT {NOTIFY_EVENT} FROM ins"
# An event delivered in the transaction that inserts it (its runs wake workers themselves).
INSERT_EVENT_TO_DELIVER: Final = _INSERT_EVENT
# In EventRecord's field order (timestamp before source), not the table's.
EVENT_COLS: Final = "id, name, payload, timestamp, source, deliver_at, sent_by_run, status"
LIST_EVENTS: Final = f"SELECT {EVENT_COLS} FROM events ORDER BY timestamp DESC LIMIT %s"
GET_EVENT: Final = f"SELECT {EVENT_COLS} FROM events WHERE id = %s"
CANCEL_EVENT: Final = "UPDATE events SET status = 'canceled' WHERE id = %s AND status = 'pending'"
# One due pending event, locked for the transaction that delivers it; events another
# deliverer holds are skipped, never waited for (nor delivered twice).
CLAIM_DUE_EVENT: Final = (
    f"SELECT {EVENT_COLS} FROM events WHERE status = 'pending' AND {_PENDING_DUE} <= %s "
    f"ORDER BY {_PENDING_DUE} LIMIT 1 FOR UPDATE SKIP LOCKED"
)
MARK_DELIVERED: Final = "UPDATE events SET status = 'delivered', delivered_at = %s WHERE id = %s"
# Delivery finds the open waits for an event's name, locks their runs (in id order), then
# reads and locks the waits again: every writer of a run's waits (end_attempt, cancel_run,
# record_task, expire_event_wait, another delivery) holds the run row first, so locks are
# always taken run before wait and two deliveries never both resolve one wait.
OPEN_WAITS: Final = (
    "SELECT run_id, task_key, filter FROM event_waits WHERE event_name = %s AND event_id IS NULL"
)
LOCK_RUNS: Final = "SELECT id FROM runs WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
LOCK_OPEN_WAITS: Final = (
    "SELECT run_id, task_key, filter FROM event_waits WHERE event_name = %s "
    "AND event_id IS NULL AND run_id = ANY(%s) ORDER BY run_id, task_key FOR UPDATE"
)
RESOLVE_WAIT: Final = (
    "UPDATE event_waits SET event_id = %s, event = %s WHERE run_id = %s AND task_key = %s"
)
WAKE_RESOLVED: Final = (
    "WITH woken AS (UPDATE runs SET next_attempt_at = %s WHERE id = ANY(%s) "
    "AND status = 'waiting' RETURNING job_id) "
    f"SELECT {NOTIFY} FROM (SELECT DISTINCT job_id FROM woken) AS j"
)
LOAD_EVENT_MATCHES: Final = (
    "SELECT task_key, event FROM event_waits WHERE run_id = %s AND event_id IS NOT NULL"
)
CONSUME_EVENT_WAIT: Final = "DELETE FROM event_waits WHERE run_id = %s AND task_key = %s"
# expire_event_wait: the fence (the run row locked FOR SHARE while this owner holds it), then
# the wait dropped only while no event has resolved it.
LEASE_FENCE: Final = (
    "SELECT 1 FROM runs WHERE id = %s AND lease_owner = %s AND status = 'running' FOR SHARE"
)
EXPIRE_EVENT_WAIT: Final = (
    "DELETE FROM event_waits WHERE run_id = %s AND task_key = %s AND event_id IS NULL"
)
EVENT_WAIT_EXISTS: Final = "SELECT 1 FROM event_waits WHERE run_id = %s AND task_key = %s"
KV_GET: Final = "SELECT value FROM kv WHERE scope = %s AND name = %s"

# -- schedules --------------------------------------------------------------------------------

GET_SCHEDULE: Final = "SELECT kind, spec, timezone, active FROM schedules WHERE id = %s"
UPSERT_SCHEDULE: Final = (
    "INSERT INTO schedules (id, job_id, kind, spec, timezone, next_fire_at, active) "
    "VALUES (%s, %s, %s, %s, %s, %s, true) ON CONFLICT (id) DO UPDATE SET "
    "job_id = excluded.job_id, kind = excluded.kind, spec = excluded.spec, "
    "timezone = excluded.timezone, next_fire_at = excluded.next_fire_at, active = true"
)
# Schedules another scheduler is firing right now are skipped, never waited for.
CLAIM_DUE_SCHEDULES: Final = (
    "SELECT id, job_id, kind, spec, timezone, next_fire_at, last_fire_at FROM schedules "
    "WHERE active AND next_fire_at <= %s ORDER BY next_fire_at LIMIT %s FOR UPDATE SKIP LOCKED"
)
RECORD_FIRE: Final = (
    "INSERT INTO schedule_fires (schedule_id, fire_at, run_id) VALUES (%s, %s, %s) "
    "ON CONFLICT (schedule_id, fire_at) DO NOTHING"
)
MOVE_SCHEDULE: Final = "UPDATE schedules SET next_fire_at = %s, last_fire_at = %s WHERE id = %s"
_KV_SET: Final = (
    "INSERT INTO kv (scope, name, value, updated_at) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value, "
    "updated_at = excluded.updated_at"
)
_KV_DELETE: Final = "DELETE FROM kv WHERE scope = %s AND name = %s"


def log_from_row(r: Sequence[Any]) -> LogRecord:
    """A ``LOAD_LOGS`` row as a record."""
    return LogRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5])


def event_params(e: EventRecord) -> tuple[Any, ...]:
    """``INSERT_EVENT``'s parameters."""
    return (e.id, e.name, e.payload, e.source, e.timestamp, e.deliver_at, e.sent_by_run)


async def write_effects(
    conn: Conn,
    run_id: str,
    task: TaskRecord,
    logs: Sequence[LogRecord],
    kv: Sequence[KvWrite],
    events: Sequence[EventRecord],
) -> None:
    """Write a task's logs, key-value writes and events (inside the caller's transaction)."""
    # Rows are written in key order (a stable sort keeps a key's writes in their order), so two
    # transactions writing the same keys lock them in the same order and cannot deadlock.
    async with conn.cursor() as cur:
        if logs:
            await cur.executemany(INSERT_LOG, [log_params(run_id, g) for g in logs])
        for w in sorted(kv, key=lambda w: (w.scope, w.name)):
            if w.value is None:
                await cur.execute(_KV_DELETE, (w.scope, w.name))
            else:
                at = task.ended_at or task.started_at
                await cur.execute(_KV_SET, (w.scope, w.name, w.value, at))
        if events:
            ordered = sorted(events, key=lambda e: e.id)
            await cur.executemany(INSERT_EVENT, [event_params(e) for e in ordered])


# -- migrations -------------------------------------------------------------------------------


def known_version() -> int:
    """The newest schema version this relaykit knows."""
    return max((v for v, _, _ in migrations.load("postgres")), default=0)


async def schema_version(conn: Conn) -> int:
    """The highest applied migration version (0 for an empty database)."""
    if not await has_migrations_table(conn):
        return 0
    cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def has_migrations_table(conn: Conn) -> bool:
    """Whether ``schema_migrations`` exists (in the current schema)."""
    # A catalogue query, not to_regclass(): that one consults this session's catalogue cache,
    # which still says "no such table" when another worker created it while we waited for
    # the migration lock; the query sees every committed table.
    cur = await conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables "
        "WHERE schemaname = current_schema() AND tablename = 'schema_migrations')"
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def apply_migrations(conn: Conn) -> tuple[int, list[int]]:
    """Apply pending migrations in the caller's transaction, which must hold
    ``MIGRATION_LOCK``; return the version found and the versions applied."""
    if not await has_migrations_table(conn):
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at double precision NOT NULL)"
        )
    current = await schema_version(conn)
    if current > known_version():
        return current, []
    applied = []
    for version, name, sql in migrations.load("postgres"):
        if version <= current:
            continue
        await conn.execute(sql.encode())  # bytes: a multi-statement script, no parameters
        await conn.execute(
            "INSERT INTO schema_migrations VALUES (%s, %s, extract(epoch FROM clock_timestamp()))",
            (version, name),
        )
        applied.append(version)
    return current, applied


# -- HTTP API and dashboard: API keys, users, sessions, key-value writes ----------------------

API_KEY_COLS: Final = "id, name, key_hash, created_at, revoked_at"  # ApiKeyRecord's order
SESSION_COLS: Final = "token_hash, kind, subject, created_at, expires_at"  # SessionRecord's
CREATE_API_KEY: Final = f"INSERT INTO api_keys ({API_KEY_COLS}) VALUES (%s, %s, %s, %s, %s)"
GET_API_KEY: Final = f"SELECT {API_KEY_COLS} FROM api_keys WHERE id = %s"
LIST_API_KEYS: Final = f"SELECT {API_KEY_COLS} FROM api_keys ORDER BY created_at, id"
REVOKE_API_KEY: Final = "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL"
CREATE_USER: Final = (
    "INSERT INTO users (name, password_hash, created_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (name) DO NOTHING"
)
GET_USER: Final = "SELECT name, password_hash, created_at FROM users WHERE name = %s"
DROP_EXPIRED_SESSIONS: Final = "DELETE FROM sessions WHERE expires_at <= %s"
CREATE_SESSION: Final = f"INSERT INTO sessions ({SESSION_COLS}) VALUES (%s, %s, %s, %s, %s)"
GET_SESSION: Final = (
    f"SELECT {SESSION_COLS} FROM sessions WHERE token_hash = %s AND expires_at > %s"
)
TAKE_SESSION: Final = f"DELETE FROM sessions WHERE token_hash = %s RETURNING {SESSION_COLS}"
KV_SET: Final = _KV_SET
KV_DELETE: Final = _KV_DELETE
