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

from ..records import EventRecord, KvWrite, LogRecord, TaskRecord
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
# The statuses of runs that have not ended.
LIVE: Final = "('queued', 'running', 'waiting', 'waiting_for_connection')"

# -- runs -------------------------------------------------------------------------------------

RUN_MARKS: Final = ", ".join(["%s"] * len(RUN_COLS.split(",")))
# A queued (or waiting) run wakes listening workers; NOTIFY is delivered at commit.
CREATE_RUN: Final = (
    f"WITH ins AS (INSERT INTO runs ({RUN_COLS}) VALUES ({RUN_MARKS}) "
    "RETURNING job_id, status) "
    f"SELECT {NOTIFY} FROM ins WHERE status IN ('queued', 'waiting')"
)
INSERT_RUN_GROUP: Final = (
    "INSERT INTO run_groups (run_id, grp, lim, period) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (run_id, grp) DO NOTHING"
)
# Idempotency, race-safe without a lock of our own: the key row is the arbiter. The upsert
# inserts the key, or takes over an expired one, and then RETURNs our run id; on a live key
# it returns nothing — yet it still locks that row (ON CONFLICT DO UPDATE locks the row it
# conflicts with even when its WHERE is false). A concurrent creator with the same key blocks
# in its own upsert until we commit (or roll back), then sees our live row and returns our run.
CLAIM_IDEMPOTENCY_KEY: Final = (
    "INSERT INTO idempotency_keys (job_id, key, run_id, expires_at) "
    "VALUES (%(job)s, %(key)s, %(id)s, %(expires)s) ON CONFLICT (job_id, key) DO UPDATE SET "
    "run_id = excluded.run_id, expires_at = excluded.expires_at "
    "WHERE idempotency_keys.expires_at <= %(now)s RETURNING run_id"
)
# A new statement, so it sees the committed key row locked above and the run created with it.
IDEMPOTENT_RUN: Final = (
    f"SELECT {RUN_COLS} FROM runs WHERE id = "
    "(SELECT run_id FROM idempotency_keys WHERE job_id = %(job)s AND key = %(key)s)"
)
# Point a key (whose row this transaction holds) at another run: the one a debounce key led
# to, or a new run when the key's run no longer exists.
MOVE_IDEMPOTENCY_KEY: Final = (
    "UPDATE idempotency_keys SET run_id = %(id)s, expires_at = %(expires)s "
    "WHERE job_id = %(job)s AND key = %(key)s"
)
# Debounce: triggers with one (job, key) take a transaction-level advisory lock (two-int
# key space, apart from the bigint locks below), so two of them never both find no queued
# run and both insert one. The update re-checks ``status``/``attempt`` on the row itself: a
# claim that took the run meanwhile makes it match nothing (after waiting for that claim to
# commit), and the trigger creates a new run instead of changing a started one.
DEBOUNCE_LOCK_CLASS: Final = 0x726C6B64  # "rlkd"
DEBOUNCE_LOCK: Final = "SELECT pg_advisory_xact_lock(%s, %s)"
_DEBOUNCED: Final = (
    "job_id = %(job)s AND debounce_key = %(key)s AND status = 'queued' AND attempt = 0"
)
DEBOUNCE_RUN: Final = (
    "UPDATE runs SET payload = %(payload)s, next_attempt_at = %(due)s "
    f"WHERE {_DEBOUNCED} AND id = (SELECT id FROM runs WHERE {_DEBOUNCED} "
    f"ORDER BY created_at, id LIMIT 1) RETURNING {RUN_COLS}"
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
# Which runs a claim may take; never one in ``exclude`` (those its caller is executing).
_ONLY: Final = {
    "all": "AND NOT (id = ANY(%(exclude)s))",
    "run": "AND id = %(run_id)s AND NOT (id = ANY(%(exclude)s))",
    "family": "AND (id = %(run_id)s OR root_run_id = %(run_id)s) AND NOT (id = ANY(%(exclude)s))",
}
_CLAIM_SET: Final = (
    "status = 'running', lease_owner = %(owner)s, lease_expires_at = %(lease_until)s, "
    "attempt = attempt + 1, epoch = epoch + 1, started_at = COALESCE(started_at, %(now)s)"
)
_ORDER: Final = "priority DESC, next_attempt_at"
# Claiming, fast path: one statement, as before flow control. The best ``limit`` runnable
# runs are locked (rows another worker is claiming right now are skipped, never waited for)
# and claimed — unless one of them is limited (in a concurrency or throttle group): then
# nothing is claimed and the first column says so, and the caller claims through
# ``CLAIM_LIMITED`` under the claim lock. The first column comes back even when no run does.
_CLAIM_FAST: Final = f"""
WITH cand AS MATERIALIZED (
    SELECT id, limited FROM runs WHERE job_id = ANY(%(jobs)s) {{only}} AND {_RUNNABLE}
    ORDER BY {_ORDER} LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE runs SET {_CLAIM_SET}
    WHERE id IN (SELECT id FROM cand) AND NOT EXISTS (SELECT FROM cand WHERE limited)
    RETURNING {RUN_COLS}
)
SELECT COALESCE((SELECT bool_or(limited) FROM cand), false), claimed.*
FROM (VALUES (1)) AS one LEFT JOIN claimed ON true
"""
CLAIM_FAST: Final = {k: _CLAIM_FAST.format(only=v) for k, v in _ONLY.items()}
# Claiming limited runs is serialized by this transaction-level advisory lock: under it a
# claim counts each group's busy runs, admits runs within the limits and commits before the
# next claim counts. Only claims that involve a limited run take it; the lock must be its own
# statement, taken before the one that counts (a READ COMMITTED statement's snapshot is taken
# when it starts, so counting in the statement that waited for the lock could miss the runs
# the previous holder just claimed). The value is arbitrary; it spells "rlkclm".
CLAIM_LOCK: Final = 0x726C6B636C6D
TAKE_CLAIM_LOCK: Final = "SELECT pg_advisory_xact_lock(%s)"
# Under the claim lock, one statement (one snapshot): ``busy`` counts, for every group of a
# runnable limited run, its running runs (a throttle: runs started within its period); the
# best ``cap`` runnable runs not held back by a full group are locked; each comes back once
# per group (once, with NULLs, when it has none) with the group's busy count, for
# ``admit`` to take them in order without exceeding a limit (it also counts the ones it takes).
_CLAIM_LIMITED: Final = f"""
WITH busy AS (
    SELECT g.grp, count(*) AS n FROM run_groups g JOIN runs x ON x.id = g.run_id
    WHERE g.grp IN (
        SELECT w.grp FROM runs r JOIN run_groups w ON w.run_id = r.id
        WHERE r.limited AND r.job_id = ANY(%(jobs)s) {{only}} AND {_RUNNABLE}
    ) AND CASE WHEN g.period IS NULL
        THEN x.status = 'running' AND x.lease_expires_at >= %(now)s
        ELSE x.started_at > %(now)s - g.period END
    GROUP BY g.grp
), cand AS MATERIALIZED (
    SELECT id, limited, started_at IS NOT NULL AS started, priority, next_attempt_at
    FROM runs WHERE job_id = ANY(%(jobs)s) {{only}} AND {_RUNNABLE}
    AND (NOT limited OR NOT EXISTS (
        SELECT FROM run_groups g JOIN busy b ON b.grp = g.grp WHERE g.run_id = runs.id
        AND b.n >= g.lim AND (g.period IS NULL OR runs.started_at IS NULL)
    ))
    ORDER BY {_ORDER} LIMIT %(cap)s FOR UPDATE SKIP LOCKED
)
SELECT c.id, c.limited, c.started, g.grp, g.lim, g.period, COALESCE(b.n, 0)
FROM cand c LEFT JOIN run_groups g ON c.limited AND g.run_id = c.id
LEFT JOIN busy b ON b.grp = g.grp
ORDER BY c.priority DESC, c.next_attempt_at, c.id
"""
CLAIM_LIMITED: Final = {k: _CLAIM_LIMITED.format(only=v) for k, v in _ONLY.items()}
CLAIM_ADMITTED: Final = f"UPDATE runs SET {_CLAIM_SET} WHERE id = ANY(%(ids)s) RETURNING {RUN_COLS}"
# Leases are named by (run id, epoch) pairs, passed as two arrays.
_HELD: Final = "(id, epoch) IN (SELECT * FROM unnest(%s::text[], %s::bigint[]))"
RENEW_LEASES: Final = (
    f"UPDATE runs SET lease_expires_at = %s WHERE status = 'running' AND {_HELD} RETURNING id"
)
RELEASE_RUNS: Final = (
    "WITH released AS (UPDATE runs SET status = 'waiting', next_attempt_at = %s, "
    f"lease_owner = NULL, lease_expires_at = NULL WHERE status = 'running' AND {_HELD} "
    "RETURNING job_id) "
    f"SELECT {NOTIFY} FROM (SELECT DISTINCT job_id FROM released) AS j"
)
# A replay copies what the job's definition derived when the run was created (priority,
# groups, cancel key) so that it obeys the same limits, without needing the job's code.
_REPLAY_COPY: Final = (
    "job_id, job_version, payload, is_test, event_id, event_name, environment, priority, "
    "limited, cancel_key"
)
REPLAY_RUN: Final = (
    "WITH ins AS (INSERT INTO runs (id, status, created_at, next_attempt_at, "
    f"{_REPLAY_COPY}) SELECT %(new)s, 'queued', %(now)s, %(now)s, {_REPLAY_COPY} FROM runs "
    "WHERE id = %(id)s RETURNING job_id) "
    f"SELECT {NOTIFY} FROM ins"
)
REPLAY_GROUPS: Final = (
    "INSERT INTO run_groups (run_id, grp, lim, period) "
    "SELECT %(new)s, grp, lim, period FROM run_groups WHERE run_id = %(id)s"
)
# Cancelling takes two statements in one transaction: the tasks and event waits are read
# after the run row is locked (and any end_attempt that held it has committed), so none that
# attempt wrote is left behind.
CANCEL_RUN: Final = (
    "UPDATE runs SET status = 'canceled', ended_at = %(now)s, "
    "lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = NULL "
    f"WHERE id = %(id)s AND status IN {LIVE}"
)
# ``cancel_on``: first the runs that invoked the runs to cancel are locked (ancestor first, as
# LOCK_PARENT), then the runs not yet ended with one of the keys, in id order (two deliveries
# cancelling overlapping runs cannot deadlock). A running run is canceled too: its attempt's
# next fenced write (which needs status 'running') is refused, so it stops at its next task
# boundary.
LOCK_CANCEL_PARENTS: Final = (
    "SELECT id FROM runs WHERE id IN (SELECT parent_run_id FROM runs "
    f"WHERE cancel_key = ANY(%(keys)s) AND status IN {LIVE}) "
    f"AND status IN {LIVE} ORDER BY id FOR NO KEY UPDATE"
)
CANCEL_BY_KEYS: Final = (
    "WITH c AS (SELECT id FROM runs WHERE cancel_key = ANY(%(keys)s) "
    f"AND status IN {LIVE} ORDER BY id FOR UPDATE) "
    "UPDATE runs SET status = 'canceled', ended_at = %(now)s, next_attempt_at = NULL, "
    "lease_owner = NULL, lease_expires_at = NULL "
    "FROM c WHERE runs.id = c.id RETURNING runs.id"
)
# Closing runs that just ended (their rows locked by this transaction), in two statements.
# CLOSE_RUNS, after the runs' rows were locked so it sees every task and wait their attempts
# wrote: the child runs they were waiting for (a waiting ``invoke`` task) are canceled —
# the caller closes those in turn — their concurrency-group rows go (only running runs count),
# no task of theirs waits forever, their event waits go; and the runs that invoked them are
# locked (FOR NO KEY UPDATE: what the parent's own end_attempt or record_task holds it with).
# Those parents come back for WAKE_PARENTS, a new statement and so a new snapshot taken once
# the locks are held: it sees every sibling that ended in a transaction that held a parent
# before, so of two children ending at once the one that commits last wakes the parent; and a
# parent's end_attempt that waited for the lock sees the child ended (DUE_IF_MATCHED).
CLOSE_RUNS: Final = (
    "WITH orphans AS (UPDATE runs SET status = 'canceled', ended_at = %(now)s, "
    "next_attempt_at = NULL, lease_owner = NULL, lease_expires_at = NULL "
    "WHERE parent_run_id = ANY(%(ids)s) AND ended_at IS NULL AND (parent_run_id, "
    "parent_task_key) IN (SELECT run_id, key FROM tasks WHERE run_id = ANY(%(ids)s) "
    "AND kind = 'invoke' AND status = 'waiting') RETURNING id), "
    "released AS (DELETE FROM run_groups WHERE run_id = ANY(%(ids)s) AND period IS NULL), "
    "leftover AS (UPDATE tasks SET status = 'canceled', ended_at = %(now)s, "
    "next_attempt_at = NULL WHERE run_id = ANY(%(ids)s) AND status IN ('waiting', 'running')), "
    "dropped AS (DELETE FROM event_waits WHERE run_id = ANY(%(ids)s)), "
    "parents AS (SELECT id FROM runs WHERE id IN (SELECT parent_run_id FROM runs "
    f"WHERE id = ANY(%(ids)s)) AND status IN {LIVE} ORDER BY id FOR NO KEY UPDATE) "
    "SELECT 'orphan', id FROM orphans UNION ALL SELECT 'parent', id FROM parents"
)
# A waiting parent is woken when the last child its task waits for has ended.
WAKE_PARENTS: Final = (
    "WITH woken AS (UPDATE runs p SET next_attempt_at = %(now)s WHERE p.id = ANY(%(parents)s) "
    "AND p.status = 'waiting' AND EXISTS (SELECT 1 FROM runs c WHERE c.id = ANY(%(ids)s) "
    "AND c.parent_run_id = p.id AND NOT EXISTS (SELECT 1 FROM runs s "
    "WHERE s.parent_run_id = p.id AND s.parent_task_key = c.parent_task_key "
    "AND s.ended_at IS NULL)) RETURNING job_id) "
    f"SELECT {NOTIFY} FROM (SELECT DISTINCT job_id FROM woken) AS j"
)
# A child run's end (or cancel) locks its parent first, before its own row, so that locks are
# taken ancestor before descendant everywhere — as a parent that ends (locking its row) and
# cancels the children it waited for (CLOSE_RUNS) takes them: the two never deadlock.
LOCK_PARENT: Final = (
    "SELECT id FROM runs WHERE id = (SELECT parent_run_id FROM runs WHERE id = %(id)s) "
    f"AND status IN {LIVE} "
    "FOR NO KEY UPDATE"
)
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
    "lease_expires_at = NULL WHERE id = %(id)s AND epoch = %(epoch)s "
    "AND status = 'running' RETURNING job_id)"
)
_ENDED_SELECT: Final = f"SELECT CASE WHEN %(wakes)s::boolean THEN {NOTIFY} END FROM ended"
END_ATTEMPT: Final = f"WITH {_ENDED_CTE} {_ENDED_SELECT}"
# A run that ended (no tasks or logs to write) as one statement, the common case: the
# leftover tasks canceled, the event waits and concurrency-group rows dropped with it. Only
# for a run that no run invoked and that waits for no child run (the statement matches
# nothing otherwise, and the caller takes the general path, CLOSE_RUNS and WAKE_PARENTS).
END_ATTEMPT_ENDED: Final = (
    "WITH ended AS (UPDATE runs SET status = %(status)s, output = %(output)s, "
    "error = %(error)s, ended_at = %(ended)s, next_attempt_at = %(wake_at)s, "
    "lease_owner = NULL, lease_expires_at = NULL WHERE id = %(id)s AND epoch = %(epoch)s "
    "AND status = 'running' AND parent_run_id IS NULL AND NOT EXISTS (SELECT FROM tasks "
    "WHERE run_id = %(id)s AND kind = 'invoke' AND status = 'waiting') RETURNING job_id), "
    "leftover AS (UPDATE tasks SET status = 'canceled', ended_at = %(ended)s, "
    "next_attempt_at = NULL WHERE run_id = %(id)s AND status IN ('waiting', 'running') "
    "AND EXISTS (SELECT FROM ended)), "
    "dropped AS (DELETE FROM event_waits WHERE run_id = %(id)s AND EXISTS (SELECT FROM ended)), "
    "released AS (DELETE FROM run_groups WHERE run_id = %(id)s AND period IS NULL "
    "AND EXISTS (SELECT FROM ended)) "
    "SELECT FROM ended"
)
INSERT_EVENT_WAIT: Final = (
    "INSERT INTO event_waits (run_id, task_key, event_name, filter) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (run_id, task_key) DO NOTHING"
)
# A separate statement after the run row is locked: an event that resolved one of the run's
# waits while the attempt ran (and committed before the lock was granted) is seen here, and
# makes the run due at once — as does an ``invoke`` task waiting for child runs that have all
# ended (a child ending meanwhile held this row first: see WAKE_PARENTS).
DUE_IF_MATCHED: Final = (
    "WITH due AS (UPDATE runs SET next_attempt_at = %(now)s WHERE id = %(id)s AND (EXISTS "
    "(SELECT 1 FROM event_waits WHERE run_id = %(id)s AND event_id IS NOT NULL) OR EXISTS "
    "(SELECT 1 FROM tasks t WHERE t.run_id = %(id)s AND t.kind = 'invoke' "
    "AND t.status = 'waiting' AND NOT EXISTS (SELECT 1 FROM runs c "
    "WHERE c.parent_run_id = %(id)s AND c.parent_task_key = t.key AND c.ended_at IS NULL))) "
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
# The hot path: one statement per completed task, parameters (run id, epoch, *task row).
# The fence locks the run row FOR SHARE, and only while it runs under this attempt's epoch: a
# claim (FOR UPDATE) or cancel that commits first makes it select no row, so nothing is
# written; one that comes later waits for this write to commit, so its worker reads the task.
UPSERT_TASK: Final = f"""
WITH fence AS (
    SELECT 1 FROM runs WHERE id = %s AND epoch = %s AND status = 'running' FOR SHARE
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
LIST_EVENTS: Final = (
    f"SELECT {EVENT_COLS} FROM events WHERE {{where}} ORDER BY timestamp DESC, id DESC LIMIT %s"
)
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
# expire_event_wait: the fence (the run row locked FOR SHARE while it runs under the
# attempt's epoch), then
# the wait dropped only while no event has resolved it.
LEASE_FENCE: Final = (
    "SELECT 1 FROM runs WHERE id = %s AND epoch = %s AND status = 'running' FOR SHARE"
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
REMOVE_SCHEDULES: Final = "UPDATE schedules SET active = false WHERE active AND id = ANY(%s)"
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
    # every version not yet recorded, not only those above the highest: a database made from
    # a development branch may have a later version and miss an earlier one
    cur = await conn.execute("SELECT version FROM schema_migrations")
    done = {row[0] for row in await cur.fetchall()}
    applied = []
    for version, name, sql in migrations.load("postgres"):
        if version in done:
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
