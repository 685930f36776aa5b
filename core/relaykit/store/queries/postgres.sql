-- The named queries of PostgresStore (psycopg placeholders: %s, %(name)s; a literal % is %%).
--
-- One block per statement, ``-- name: <name>`` above it; parsed once at import by
-- relaykit.store._tx.load_queries. The store's algorithms (store/_runs.py, _tasks.py, ...)
-- run them by name; queries/sqlite.sql defines the same names with the same parameters.
-- Wake-ups: a statement that makes a run runnable RETURNs pg_notify('relaykit_wakeup', job_id),
-- delivered at commit to every worker in wait_for_wakeup.

-- name: ping
SELECT 1;

-- The WAL position: moves with every commit on the server (Store.change_marker); on a
-- standby (where the primary's functions fail) the position replayed so far.
-- name: change_marker
SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
    ELSE pg_current_wal_insert_lsn() END)::text;

-- A queued (or waiting) run wakes listening workers; NOTIFY is delivered at commit.
-- name: create_run
WITH ins AS (INSERT INTO runs (id, job_id, job_version, status, payload, output, error, created_at,
    started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test,
    event_id, event_name, environment, priority, limited, idempotency_key, cancel_key,
    debounce_key, parent_run_id, parent_task_key, root_run_id, epoch) VALUES (%s, %s, %s, %s, %s,
    %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING job_id, status) SELECT pg_notify('relaykit_wakeup', job_id) FROM ins WHERE status IN
    ('queued', 'waiting');

-- name: insert_run_group
INSERT INTO run_groups (run_id, grp, lim, period) VALUES (%s, %s, %s, %s) ON CONFLICT (run_id, grp)
    DO NOTHING;

-- Idempotency, race-safe without a lock of our own: the key row is the arbiter. The upsert
-- inserts the key, or takes over an expired one, and then RETURNs our run id; on a live key
-- it returns nothing — yet it still locks that row (ON CONFLICT DO UPDATE locks the row it
-- conflicts with even when its WHERE is false). A concurrent creator with the same key blocks
-- in its own upsert until we commit (or roll back), then sees our live row and returns our run.
-- name: claim_idempotency_key
INSERT INTO idempotency_keys (job_id, key, run_id, expires_at) VALUES (%(job)s, %(key)s, %(id)s,
    %(expires)s) ON CONFLICT (job_id, key) DO UPDATE SET run_id = excluded.run_id, expires_at =
    excluded.expires_at WHERE idempotency_keys.expires_at <= %(now)s RETURNING run_id;

-- A new statement, so it sees the committed key row locked above and the run created with it.
-- name: idempotent_run
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at,
    attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name,
    environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id,
    parent_task_key, root_run_id, epoch FROM runs WHERE id = (SELECT run_id FROM idempotency_keys
    WHERE job_id = %(job)s AND key = %(key)s);

-- Point a key (whose row this transaction holds) at another run: the one a debounce key led
-- to, or a new run when the key's run no longer exists.
-- name: move_idempotency_key
UPDATE idempotency_keys SET run_id = %(id)s, expires_at = %(expires)s WHERE job_id = %(job)s AND
    key = %(key)s;

-- name: debounce_lock
SELECT pg_advisory_xact_lock(%s, %s);

-- name: debounce_run
UPDATE runs SET payload = %(payload)s, next_attempt_at = %(due)s WHERE job_id = %(job)s AND
    debounce_key = %(key)s AND status = 'queued' AND attempt = 0 AND id = (SELECT id FROM runs
    WHERE job_id = %(job)s AND debounce_key = %(key)s AND status = 'queued' AND attempt = 0 ORDER
    BY created_at, id LIMIT 1) RETURNING id, job_id, job_version, status, payload, output, error,
    created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at,
    is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key,
    debounce_key, parent_run_id, parent_task_key, root_run_id, epoch;

-- Unfinished runs per job (a worker reports those of jobs its app no longer defines).
-- name: unfinished_by_job
SELECT job_id, status, COUNT(*) FROM runs
WHERE status IN ('queued', 'running', 'waiting', 'waiting_for_connection')
GROUP BY job_id, status ORDER BY job_id, status;

-- name: get_run_code
SELECT code FROM runs WHERE id = %s;

-- name: get_run
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at,
    attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name,
    environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id,
    parent_task_key, root_run_id, epoch FROM runs WHERE id = %s;

-- name: renew_leases
UPDATE runs SET lease_expires_at = %s WHERE status = 'running' AND (id, epoch) IN (SELECT * FROM
    unnest(%s::text[], %s::bigint[])) RETURNING id;

-- name: release_runs
WITH released AS (UPDATE runs SET status = 'waiting', next_attempt_at = %s, lease_owner = NULL,
    lease_expires_at = NULL WHERE status = 'running' AND (id, epoch) IN (SELECT * FROM
    unnest(%s::text[], %s::bigint[])) RETURNING job_id) SELECT pg_notify('relaykit_wakeup', job_id)
    FROM (SELECT DISTINCT job_id FROM released) AS j;

-- name: replay_run
WITH ins AS (INSERT INTO runs (id, status, created_at, next_attempt_at, job_id, job_version,
    payload, is_test, event_id, event_name, environment, priority, limited, cancel_key) SELECT
    %(new)s, 'queued', %(now)s, %(now)s, job_id, job_version, COALESCE(%(payload)s::text,
    payload), is_test, event_id, event_name, environment, priority, limited, cancel_key FROM runs
    WHERE id = %(id)s RETURNING
    job_id) SELECT pg_notify('relaykit_wakeup', job_id) FROM ins;

-- name: replay_groups
INSERT INTO run_groups (run_id, grp, lim, period) SELECT %(new)s, grp, lim, period FROM run_groups
    WHERE run_id = %(id)s;

-- Cancelling takes two statements in one transaction: the tasks and event waits are read
-- after the run row is locked (and any end_attempt that held it has committed), so none that
-- attempt wrote is left behind.
-- name: cancel_run
UPDATE runs SET status = 'canceled', ended_at = %(now)s, lease_owner = NULL, lease_expires_at =
    NULL, next_attempt_at = NULL WHERE id = %(id)s AND status IN ('queued', 'running', 'waiting',
    'waiting_for_connection');

-- ``cancel_on``: first the runs that invoked the runs to cancel are locked (ancestor first, as
-- LOCK_PARENT), then the runs not yet ended with one of the keys, in id order (two deliveries
-- cancelling overlapping runs cannot deadlock). A running run is canceled too: its attempt's
-- next fenced write (which needs status 'running') is refused, so it stops at its next task
-- boundary.
-- name: lock_cancel_parents
SELECT id FROM runs WHERE id IN (SELECT parent_run_id FROM runs WHERE cancel_key = ANY(%(keys)s)
    AND status IN ('queued', 'running', 'waiting', 'waiting_for_connection')) AND status IN
    ('queued', 'running', 'waiting', 'waiting_for_connection') ORDER BY id FOR NO KEY UPDATE;

-- name: cancel_by_keys
WITH c AS (SELECT id FROM runs WHERE cancel_key = ANY(%(keys)s) AND status IN ('queued', 'running',
    'waiting', 'waiting_for_connection') ORDER BY id FOR UPDATE) UPDATE runs SET status =
    'canceled', ended_at = %(now)s, next_attempt_at = NULL, lease_owner = NULL, lease_expires_at =
    NULL FROM c WHERE runs.id = c.id RETURNING runs.id;

-- Closing runs that just ended (their rows locked by this transaction), in two statements.
-- CLOSE_RUNS, after the runs' rows were locked so it sees every task and wait their attempts
-- wrote: the child runs they were waiting for (a waiting ``invoke`` task) are canceled —
-- the caller closes those in turn — their concurrency-group rows go (only running runs count),
-- no task of theirs waits forever, their event waits go; and the runs that invoked them are
-- locked (FOR NO KEY UPDATE: what the parent's own end_attempt or record_task holds it with).
-- Those parents come back for WAKE_PARENTS, a new statement and so a new snapshot taken once
-- the locks are held: it sees every sibling that ended in a transaction that held a parent
-- before, so of two children ending at once the one that commits last wakes the parent; and a
-- parent's end_attempt that waited for the lock sees the child ended (DUE_IF_MATCHED).
-- name: close_runs
WITH orphans AS (UPDATE runs SET status = 'canceled', ended_at = %(now)s, next_attempt_at = NULL,
    lease_owner = NULL, lease_expires_at = NULL WHERE parent_run_id = ANY(%(ids)s) AND ended_at IS
    NULL AND (parent_run_id, parent_task_key) IN (SELECT run_id, key FROM tasks WHERE run_id =
    ANY(%(ids)s) AND kind = 'invoke' AND status = 'waiting') RETURNING id), released AS (DELETE
    FROM run_groups WHERE run_id = ANY(%(ids)s) AND period IS NULL), leftover AS (UPDATE tasks SET
    status = 'canceled', ended_at = %(now)s, next_attempt_at = NULL WHERE run_id = ANY(%(ids)s) AND
    status IN ('waiting', 'running')), dropped AS (DELETE FROM event_waits WHERE run_id =
    ANY(%(ids)s)), parents AS (SELECT id FROM runs WHERE id IN (SELECT parent_run_id FROM runs
    WHERE id = ANY(%(ids)s)) AND status IN ('queued', 'running', 'waiting',
    'waiting_for_connection') ORDER BY id FOR NO KEY UPDATE) SELECT 'orphan', id FROM orphans UNION
    ALL SELECT 'parent', id FROM parents;

-- A waiting parent is woken when the last child its task waits for has ended.
-- name: wake_parents
WITH woken AS (UPDATE runs p SET next_attempt_at = %(now)s WHERE p.id = ANY(%(parents)s) AND
    p.status = 'waiting' AND EXISTS (SELECT 1 FROM runs c WHERE c.id = ANY(%(ids)s) AND
    c.parent_run_id = p.id AND NOT EXISTS (SELECT 1 FROM runs s WHERE s.parent_run_id = p.id AND
    s.parent_task_key = c.parent_task_key AND s.ended_at IS NULL)) RETURNING job_id) SELECT
    pg_notify('relaykit_wakeup', job_id) FROM (SELECT DISTINCT job_id FROM woken) AS j;

-- A child run's end (or cancel) locks its parent first, before its own row, so that locks are
-- taken ancestor before descendant everywhere — as a parent that ends (locking its row) and
-- cancels the children it waited for (CLOSE_RUNS) takes them: the two never deadlock.
-- name: lock_parent
SELECT id FROM runs WHERE id = (SELECT parent_run_id FROM runs WHERE id = %(id)s) AND status IN
    ('queued', 'running', 'waiting', 'waiting_for_connection') FOR NO KEY UPDATE;

-- name: next_wakeup
SELECT LEAST((SELECT MIN(next_attempt_at) FROM runs WHERE status IN ('queued', 'waiting')  AND
    job_id = ANY(%(jobs)s)), (SELECT MIN(lease_expires_at) FROM runs WHERE status = 'running'  AND
    job_id = ANY(%(jobs)s)), (SELECT MIN(COALESCE(deliver_at, timestamp)) FROM events WHERE status
    = 'pending'), (SELECT MIN(next_fire_at) FROM schedules WHERE active));

-- name: has_unfinished_work
SELECT EXISTS (SELECT 1 FROM runs WHERE job_id = ANY(%(jobs)s) AND ((status IN ('queued',
    'waiting') AND next_attempt_at <= %(now)s) OR status = 'running')) OR EXISTS (SELECT 1 FROM
    events WHERE status = 'pending' AND COALESCE(deliver_at, timestamp) <= %(now)s) OR EXISTS
    (SELECT 1 FROM schedules WHERE active AND next_fire_at <= %(now)s);

-- name: end_attempt
WITH ended AS (UPDATE runs SET status = %(status)s, output = %(output)s, error = %(error)s,
    ended_at = %(ended)s, next_attempt_at = %(wake_at)s, lease_owner = NULL, lease_expires_at =
    NULL, code = COALESCE(code, %(code)s) WHERE id = %(id)s AND epoch = %(epoch)s AND status =
    'running' RETURNING job_id) SELECT
    CASE WHEN %(wakes)s::boolean THEN pg_notify('relaykit_wakeup', job_id) END FROM ended;

-- A run that ended (no tasks or logs to write) as one statement, the common case: the
-- leftover tasks canceled, the event waits and concurrency-group rows dropped with it. Only
-- for a run that no run invoked and that waits for no child run (the statement matches
-- nothing otherwise, and the caller takes the general path, CLOSE_RUNS and WAKE_PARENTS).
-- name: end_attempt_ended
WITH ended AS (UPDATE runs SET status = %(status)s, output = %(output)s, error = %(error)s,
    ended_at = %(ended)s, next_attempt_at = %(wake_at)s, lease_owner = NULL, lease_expires_at =
    NULL, code = COALESCE(code, %(code)s) WHERE id = %(id)s AND epoch = %(epoch)s AND status =
    'running' AND parent_run_id IS NULL
    AND NOT EXISTS (SELECT FROM tasks WHERE run_id = %(id)s AND kind = 'invoke' AND status =
    'waiting') RETURNING job_id), leftover AS (UPDATE tasks SET status = 'canceled', ended_at =
    %(ended)s, next_attempt_at = NULL WHERE run_id = %(id)s AND status IN ('waiting', 'running')
    AND EXISTS (SELECT FROM ended)), dropped AS (DELETE FROM event_waits WHERE run_id = %(id)s AND
    EXISTS (SELECT FROM ended)), released AS (DELETE FROM run_groups WHERE run_id = %(id)s AND
    period IS NULL AND EXISTS (SELECT FROM ended)) SELECT FROM ended;

-- name: insert_event_wait
INSERT INTO event_waits (run_id, task_key, event_name, filter) VALUES (%s, %s, %s, %s) ON CONFLICT
    (run_id, task_key) DO NOTHING;

-- A separate statement after the run row is locked: an event that resolved one of the run's
-- waits while the attempt ran (and committed before the lock was granted) is seen here, and
-- makes the run due at once — as does an ``invoke`` task waiting for child runs that have all
-- ended (a child ending meanwhile held this row first: see WAKE_PARENTS).
-- name: due_if_matched
WITH due AS (UPDATE runs SET next_attempt_at = %(now)s WHERE id = %(id)s AND (EXISTS (SELECT 1 FROM
    event_waits WHERE run_id = %(id)s AND event_id IS NOT NULL) OR EXISTS (SELECT 1 FROM tasks t
    WHERE t.run_id = %(id)s AND t.kind = 'invoke' AND t.status = 'waiting' AND NOT EXISTS (SELECT 1
    FROM runs c WHERE c.parent_run_id = %(id)s AND c.parent_task_key = t.key AND c.ended_at IS
    NULL))) RETURNING job_id) SELECT pg_notify('relaykit_wakeup', job_id) FROM due;

-- The hot path: one statement per completed task, parameters (run id, epoch, *task row).
-- The fence locks the run row FOR SHARE, and only while it runs under this attempt's epoch: a
-- claim (FOR UPDATE) or cancel that commits first makes it select no row, so nothing is
-- written; one that comes later waits for this write to commit, so its worker reads the task.
-- name: upsert_task
WITH fence AS (
    SELECT 1 FROM runs WHERE id = %s AND epoch = %s AND status = 'running' FOR SHARE
)
INSERT INTO tasks (run_id, key, name, kind, status, started_at, params, output, error, attempts,
    failures, ended_at, next_attempt_at, properties, icon, parent, busy_seconds) SELECT
    %s::text, %s::text, %s::text, %s::text, %s::text, %s::float8, %s::text, %s::text, %s::text,
    %s::int4, %s::int4, %s::float8, %s::float8, %s::text, %s::text, %s::text, %s::float8 FROM fence

ON CONFLICT (run_id, key) DO UPDATE SET
    name = excluded.name, kind = excluded.kind, status = excluded.status,
    params = excluded.params, output = excluded.output, error = excluded.error,
    attempts = excluded.attempts, failures = excluded.failures, ended_at = excluded.ended_at,
    next_attempt_at = excluded.next_attempt_at, properties = excluded.properties,
    icon = excluded.icon, busy_seconds = excluded.busy_seconds;

-- Inside end_attempt the run row's fenced UPDATE already proved (and locked) the lease.
-- name: upsert_task_unfenced
INSERT INTO tasks (run_id, key, name, kind, status, started_at, params, output, error, attempts,
    failures, ended_at, next_attempt_at, properties, icon, parent, busy_seconds) VALUES (
    %s::text, %s::text, %s::text, %s::text, %s::text, %s::float8, %s::text, %s::text, %s::text,
    %s::int4, %s::int4, %s::float8, %s::float8, %s::text, %s::text, %s::text, %s::float8)
ON CONFLICT (run_id, key) DO UPDATE SET
    name = excluded.name, kind = excluded.kind, status = excluded.status,
    params = excluded.params, output = excluded.output, error = excluded.error,
    attempts = excluded.attempts, failures = excluded.failures, ended_at = excluded.ended_at,
    next_attempt_at = excluded.next_attempt_at, properties = excluded.properties,
    icon = excluded.icon, busy_seconds = excluded.busy_seconds;

-- name: load_tasks
SELECT key, name, kind, status, started_at, params, output, error, attempts, failures, ended_at,
    next_attempt_at, properties, icon, parent, busy_seconds FROM tasks WHERE run_id = %s
    ORDER BY started_at, key;

-- One ended attempt of a function task, written with the task record that ends it (inside
-- that record's fenced write); re-writing the same attempt changes nothing.
-- name: insert_task_attempt
INSERT INTO task_attempts (run_id, task_key, attempt, started_at, ended_at, error) VALUES (%s,
    %s, %s, %s, %s, %s) ON CONFLICT (run_id, task_key, attempt) DO NOTHING;

-- The hot path of a task whose function ran: upsert_task (same fence, same parameters) and
-- then, only where the fenced write matched, the attempt's history row, in one statement:
-- (run id, epoch, *task row, *attempt row). It counts the task rows written, as upsert_task.
-- name: upsert_task_with_attempt
WITH fence AS (
    SELECT 1 FROM runs WHERE id = %s AND epoch = %s AND status = 'running' FOR SHARE
), task AS (
    INSERT INTO tasks (run_id, key, name, kind, status, started_at, params, output, error,
        attempts, failures, ended_at, next_attempt_at, properties, icon, parent, busy_seconds)
    SELECT %s::text, %s::text, %s::text, %s::text, %s::text, %s::float8, %s::text, %s::text,
        %s::text, %s::int4, %s::int4, %s::float8, %s::float8, %s::text, %s::text, %s::text,
        %s::float8 FROM fence
    ON CONFLICT (run_id, key) DO UPDATE SET
        name = excluded.name, kind = excluded.kind, status = excluded.status,
        params = excluded.params, output = excluded.output, error = excluded.error,
        attempts = excluded.attempts, failures = excluded.failures, ended_at = excluded.ended_at,
        next_attempt_at = excluded.next_attempt_at, properties = excluded.properties,
        icon = excluded.icon, busy_seconds = excluded.busy_seconds
    RETURNING 1
), attempt AS (
    INSERT INTO task_attempts (run_id, task_key, attempt, started_at, ended_at, error)
    SELECT %s::text, %s::text, %s::int4, %s::float8, %s::float8, %s::text FROM task
    ON CONFLICT (run_id, task_key, attempt) DO NOTHING
)
SELECT 1 FROM task;

-- name: load_task_attempts
SELECT task_key, attempt, started_at, ended_at, error FROM task_attempts WHERE run_id = %s
    ORDER BY task_key, attempt;

-- name: insert_log
INSERT INTO logs (run_id, key, level, message, properties, at, task) VALUES (%s, %s, %s, %s, %s,
    %s, %s) ON CONFLICT (run_id, key) DO NOTHING;

-- name: load_logs
SELECT key, level, message, properties, at, task FROM logs WHERE run_id = %s ORDER BY at, key;

-- A new pending event wakes listening workers (their delivery loop routes it when due).
-- name: insert_event
WITH ins AS (INSERT INTO events (id, name, payload, source, timestamp, deliver_at, sent_by_run,
    status) VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending') ON CONFLICT (id) DO NOTHING RETURNING 1)
    SELECT pg_notify('relaykit_wakeup', '') FROM ins;

-- An event delivered in the transaction that inserts it (its runs wake workers themselves).
-- name: insert_event_to_deliver
INSERT INTO events (id, name, payload, source, timestamp, deliver_at, sent_by_run, status) VALUES
    (%s, %s, %s, %s, %s, %s, %s, 'pending') ON CONFLICT (id) DO NOTHING;

-- name: get_event
SELECT id, name, payload, timestamp, source, deliver_at, sent_by_run, status FROM events WHERE id =
    %s;

-- name: cancel_event
UPDATE events SET status = 'canceled' WHERE id = %s AND status = 'pending';

-- One due pending event, locked for the transaction that delivers it; events another
-- deliverer holds are skipped, never waited for (nor delivered twice).
-- name: claim_due_event
SELECT id, name, payload, timestamp, source, deliver_at, sent_by_run, status FROM events WHERE
    status = 'pending' AND COALESCE(deliver_at, timestamp) <= %s ORDER BY COALESCE(deliver_at,
    timestamp) LIMIT 1 FOR UPDATE SKIP LOCKED;

-- name: mark_delivered
UPDATE events SET status = 'delivered', delivered_at = %s WHERE id = %s;

-- Delivery finds the open waits for an event's name, locks their runs (in id order), then
-- reads and locks the waits again: every writer of a run's waits (end_attempt, cancel_run,
-- record_task, expire_event_wait, another delivery) holds the run row first, so locks are
-- always taken run before wait and two deliveries never both resolve one wait.
-- name: open_waits
SELECT run_id, task_key, filter FROM event_waits WHERE event_name = %s AND event_id IS NULL;

-- name: lock_runs
SELECT id FROM runs WHERE id = ANY(%s) ORDER BY id FOR UPDATE;

-- name: lock_open_waits
SELECT run_id, task_key, filter FROM event_waits WHERE event_name = %s AND event_id IS NULL AND
    run_id = ANY(%s) ORDER BY run_id, task_key FOR UPDATE;

-- name: resolve_wait
UPDATE event_waits SET event_id = %s, event = %s WHERE run_id = %s AND task_key = %s;

-- name: wake_resolved
WITH woken AS (UPDATE runs SET next_attempt_at = %s WHERE id = ANY(%s) AND status = 'waiting'
    RETURNING job_id) SELECT pg_notify('relaykit_wakeup', job_id) FROM (SELECT DISTINCT job_id FROM
    woken) AS j;

-- name: load_event_matches
SELECT task_key, event FROM event_waits WHERE run_id = %s AND event_id IS NOT NULL;

-- name: consume_event_wait
DELETE FROM event_waits WHERE run_id = %s AND task_key = %s;

-- expire_event_wait: the fence (the run row locked FOR SHARE while it runs under the
-- attempt's epoch), then
-- the wait dropped only while no event has resolved it.
-- name: lease_fence
SELECT 1 FROM runs WHERE id = %s AND epoch = %s AND status = 'running' FOR SHARE;

-- name: expire_event_wait
DELETE FROM event_waits WHERE run_id = %s AND task_key = %s AND event_id IS NULL;

-- name: event_wait_exists
SELECT 1 FROM event_waits WHERE run_id = %s AND task_key = %s;

-- name: kv_get
SELECT value FROM kv WHERE scope = %s AND name = %s;

-- name: kv_set
INSERT INTO kv (scope, name, value, updated_at) VALUES (%s, %s, %s, %s) ON CONFLICT (scope, name)
    DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at;

-- name: kv_delete
DELETE FROM kv WHERE scope = %s AND name = %s;

-- name: get_schedule
SELECT kind, spec, timezone, active FROM schedules WHERE id = %s;

-- name: upsert_schedule
INSERT INTO schedules (id, job_id, kind, spec, timezone, next_fire_at, active) VALUES (%s, %s, %s,
    %s, %s, %s, true) ON CONFLICT (id) DO UPDATE SET job_id = excluded.job_id, kind =
    excluded.kind, spec = excluded.spec, timezone = excluded.timezone, next_fire_at =
    excluded.next_fire_at, active = true;

-- Schedules another scheduler is firing right now are skipped, never waited for.
-- name: claim_due_schedules
SELECT id, job_id, kind, spec, timezone, next_fire_at, last_fire_at FROM schedules WHERE active AND
    next_fire_at <= %s ORDER BY next_fire_at LIMIT %s FOR UPDATE SKIP LOCKED;

-- name: record_fire
INSERT INTO schedule_fires (schedule_id, fire_at, run_id) VALUES (%s, %s, %s) ON CONFLICT
    (schedule_id, fire_at) DO NOTHING;

-- name: remove_schedules
UPDATE schedules SET active = false WHERE active AND id = ANY(%s);

-- name: move_schedule
UPDATE schedules SET next_fire_at = %s, last_fire_at = %s WHERE id = %s;

-- name: create_api_key
INSERT INTO api_keys (id, name, key_hash, created_at, revoked_at) VALUES (%s, %s, %s, %s, %s);

-- name: get_api_key
SELECT id, name, key_hash, created_at, revoked_at FROM api_keys WHERE id = %s;

-- name: list_api_keys
SELECT id, name, key_hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL;

-- name: create_user
INSERT INTO users (name, password_hash, created_at) VALUES (%s, %s, %s) ON CONFLICT (name) DO
    NOTHING;

-- name: get_user
SELECT name, password_hash, created_at FROM users WHERE name = %s;

-- name: drop_expired_sessions
DELETE FROM sessions WHERE expires_at <= %s;

-- name: create_session
INSERT INTO sessions (token_hash, kind, subject, created_at, expires_at) VALUES (%s, %s, %s, %s,
    %s);

-- name: get_session
SELECT token_hash, kind, subject, created_at, expires_at FROM sessions WHERE token_hash = %s AND
    expires_at > %s;

-- name: take_session
DELETE FROM sessions WHERE token_hash = %s RETURNING token_hash, kind, subject, created_at,
    expires_at;

-- name: take_claim_lock
SELECT pg_advisory_xact_lock(%s);

-- name: claim_admitted
UPDATE runs SET status = 'running', lease_owner = %(owner)s, lease_expires_at = %(lease_until)s,
    attempt = attempt + 1, epoch = epoch + 1, started_at = COALESCE(started_at, %(now)s) WHERE id =
    ANY(%(ids)s) RETURNING id, job_id, job_version, status, payload, output, error, created_at,
    started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test,
    event_id, event_name, environment, priority, limited, idempotency_key, cancel_key,
    debounce_key, parent_run_id, parent_task_key, root_run_id, epoch;

-- Claiming, fast path: one statement, as before flow control. The best ``limit`` runnable
-- runs are locked (rows another worker is claiming right now are skipped, never waited for)
-- and claimed — unless one of them is limited (in a concurrency or throttle group): then
-- nothing is claimed and the first column says so, and the caller claims through
-- ``CLAIM_LIMITED`` under the claim lock. The first column comes back even when no run does.
-- name: claim_fast_all
WITH cand AS MATERIALIZED (
    SELECT id, limited FROM runs WHERE job_id = ANY(%(jobs)s) AND NOT (id = ANY(%(exclude)s)) AND
        ((status IN ('queued', 'waiting') AND next_attempt_at <= %(now)s) OR (status = 'running'
        AND lease_expires_at < %(now)s))
    ORDER BY priority DESC, next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE runs SET status = 'running', lease_owner = %(owner)s, lease_expires_at =
        %(lease_until)s, attempt = attempt + 1, epoch = epoch + 1, started_at =
        COALESCE(started_at, %(now)s)
    WHERE id IN (SELECT id FROM cand) AND NOT EXISTS (SELECT FROM cand WHERE limited)
    RETURNING id, job_id, job_version, status, payload, output, error, created_at, started_at,
        ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id,
        event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key,
        parent_run_id, parent_task_key, root_run_id, epoch
)
SELECT COALESCE((SELECT bool_or(limited) FROM cand), false), claimed.*
FROM (VALUES (1)) AS one LEFT JOIN claimed ON true;

-- Under the claim lock, one statement (one snapshot): ``busy`` counts, for every group of a
-- runnable limited run, its running runs (a throttle: runs started within its period); the
-- best ``cap`` runnable runs not held back by a full group are locked; each comes back once
-- per group (once, with NULLs, when it has none) with the group's busy count, for
-- ``admit`` to take them in order without exceeding a limit (it also counts the ones it takes).
-- name: claim_limited_all
WITH busy AS (
    SELECT g.grp, count(*) AS n FROM run_groups g JOIN runs x ON x.id = g.run_id
    WHERE g.grp IN (
        SELECT w.grp FROM runs r JOIN run_groups w ON w.run_id = r.id
        WHERE r.limited AND r.job_id = ANY(%(jobs)s) AND NOT (id = ANY(%(exclude)s)) AND ((status
            IN ('queued', 'waiting') AND next_attempt_at <= %(now)s) OR (status = 'running' AND
            lease_expires_at < %(now)s))
    ) AND CASE WHEN g.period IS NULL
        THEN x.status = 'running' AND x.lease_expires_at >= %(now)s
        ELSE x.started_at > %(now)s - g.period END
    GROUP BY g.grp
), cand AS MATERIALIZED (
    SELECT id, limited, started_at IS NOT NULL AS started, priority, next_attempt_at
    FROM runs WHERE job_id = ANY(%(jobs)s) AND NOT (id = ANY(%(exclude)s)) AND ((status IN
        ('queued', 'waiting') AND next_attempt_at <= %(now)s) OR (status = 'running' AND
        lease_expires_at < %(now)s))
    AND (NOT limited OR NOT EXISTS (
        SELECT FROM run_groups g JOIN busy b ON b.grp = g.grp WHERE g.run_id = runs.id
        AND b.n >= g.lim AND (g.period IS NULL OR runs.started_at IS NULL)
    ))
    ORDER BY priority DESC, next_attempt_at LIMIT %(cap)s FOR UPDATE SKIP LOCKED
)
SELECT c.id, c.limited, c.started, g.grp, g.lim, g.period, COALESCE(b.n, 0)
FROM cand c LEFT JOIN run_groups g ON c.limited AND g.run_id = c.id
LEFT JOIN busy b ON b.grp = g.grp
ORDER BY c.priority DESC, c.next_attempt_at, c.id;

-- name: claim_fast_run
WITH cand AS MATERIALIZED (
    SELECT id, limited FROM runs WHERE job_id = ANY(%(jobs)s) AND id = %(run_id)s AND NOT (id =
        ANY(%(exclude)s)) AND ((status IN ('queued', 'waiting') AND next_attempt_at <= %(now)s) OR
        (status = 'running' AND lease_expires_at < %(now)s))
    ORDER BY priority DESC, next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE runs SET status = 'running', lease_owner = %(owner)s, lease_expires_at =
        %(lease_until)s, attempt = attempt + 1, epoch = epoch + 1, started_at =
        COALESCE(started_at, %(now)s)
    WHERE id IN (SELECT id FROM cand) AND NOT EXISTS (SELECT FROM cand WHERE limited)
    RETURNING id, job_id, job_version, status, payload, output, error, created_at, started_at,
        ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id,
        event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key,
        parent_run_id, parent_task_key, root_run_id, epoch
)
SELECT COALESCE((SELECT bool_or(limited) FROM cand), false), claimed.*
FROM (VALUES (1)) AS one LEFT JOIN claimed ON true;

-- name: claim_limited_run
WITH busy AS (
    SELECT g.grp, count(*) AS n FROM run_groups g JOIN runs x ON x.id = g.run_id
    WHERE g.grp IN (
        SELECT w.grp FROM runs r JOIN run_groups w ON w.run_id = r.id
        WHERE r.limited AND r.job_id = ANY(%(jobs)s) AND id = %(run_id)s AND NOT (id =
            ANY(%(exclude)s)) AND ((status IN ('queued', 'waiting') AND next_attempt_at <= %(now)s)
            OR (status = 'running' AND lease_expires_at < %(now)s))
    ) AND CASE WHEN g.period IS NULL
        THEN x.status = 'running' AND x.lease_expires_at >= %(now)s
        ELSE x.started_at > %(now)s - g.period END
    GROUP BY g.grp
), cand AS MATERIALIZED (
    SELECT id, limited, started_at IS NOT NULL AS started, priority, next_attempt_at
    FROM runs WHERE job_id = ANY(%(jobs)s) AND id = %(run_id)s AND NOT (id = ANY(%(exclude)s)) AND
        ((status IN ('queued', 'waiting') AND next_attempt_at <= %(now)s) OR (status = 'running'
        AND lease_expires_at < %(now)s))
    AND (NOT limited OR NOT EXISTS (
        SELECT FROM run_groups g JOIN busy b ON b.grp = g.grp WHERE g.run_id = runs.id
        AND b.n >= g.lim AND (g.period IS NULL OR runs.started_at IS NULL)
    ))
    ORDER BY priority DESC, next_attempt_at LIMIT %(cap)s FOR UPDATE SKIP LOCKED
)
SELECT c.id, c.limited, c.started, g.grp, g.lim, g.period, COALESCE(b.n, 0)
FROM cand c LEFT JOIN run_groups g ON c.limited AND g.run_id = c.id
LEFT JOIN busy b ON b.grp = g.grp
ORDER BY c.priority DESC, c.next_attempt_at, c.id;

-- name: claim_fast_family
WITH cand AS MATERIALIZED (
    SELECT id, limited FROM runs WHERE job_id = ANY(%(jobs)s) AND (id = %(run_id)s OR root_run_id =
        %(run_id)s) AND NOT (id = ANY(%(exclude)s)) AND ((status IN ('queued', 'waiting') AND
        next_attempt_at <= %(now)s) OR (status = 'running' AND lease_expires_at < %(now)s))
    ORDER BY priority DESC, next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE runs SET status = 'running', lease_owner = %(owner)s, lease_expires_at =
        %(lease_until)s, attempt = attempt + 1, epoch = epoch + 1, started_at =
        COALESCE(started_at, %(now)s)
    WHERE id IN (SELECT id FROM cand) AND NOT EXISTS (SELECT FROM cand WHERE limited)
    RETURNING id, job_id, job_version, status, payload, output, error, created_at, started_at,
        ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id,
        event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key,
        parent_run_id, parent_task_key, root_run_id, epoch
)
SELECT COALESCE((SELECT bool_or(limited) FROM cand), false), claimed.*
FROM (VALUES (1)) AS one LEFT JOIN claimed ON true;

-- name: claim_limited_family
WITH busy AS (
    SELECT g.grp, count(*) AS n FROM run_groups g JOIN runs x ON x.id = g.run_id
    WHERE g.grp IN (
        SELECT w.grp FROM runs r JOIN run_groups w ON w.run_id = r.id
        WHERE r.limited AND r.job_id = ANY(%(jobs)s) AND (id = %(run_id)s OR root_run_id =
            %(run_id)s) AND NOT (id = ANY(%(exclude)s)) AND ((status IN ('queued', 'waiting') AND
            next_attempt_at <= %(now)s) OR (status = 'running' AND lease_expires_at < %(now)s))
    ) AND CASE WHEN g.period IS NULL
        THEN x.status = 'running' AND x.lease_expires_at >= %(now)s
        ELSE x.started_at > %(now)s - g.period END
    GROUP BY g.grp
), cand AS MATERIALIZED (
    SELECT id, limited, started_at IS NOT NULL AS started, priority, next_attempt_at
    FROM runs WHERE job_id = ANY(%(jobs)s) AND (id = %(run_id)s OR root_run_id = %(run_id)s) AND
        NOT (id = ANY(%(exclude)s)) AND ((status IN ('queued', 'waiting') AND next_attempt_at <=
        %(now)s) OR (status = 'running' AND lease_expires_at < %(now)s))
    AND (NOT limited OR NOT EXISTS (
        SELECT FROM run_groups g JOIN busy b ON b.grp = g.grp WHERE g.run_id = runs.id
        AND b.n >= g.lim AND (g.period IS NULL OR runs.started_at IS NULL)
    ))
    ORDER BY priority DESC, next_attempt_at LIMIT %(cap)s FOR UPDATE SKIP LOCKED
)
SELECT c.id, c.limited, c.started, g.grp, g.lim, g.period, COALESCE(b.n, 0)
FROM cand c LEFT JOIN run_groups g ON c.limited AND g.run_id = c.id
LEFT JOIN busy b ON b.grp = g.grp
ORDER BY c.priority DESC, c.next_attempt_at, c.id;

-- name: get_connection
SELECT integration_id, credentials, expires_at, updated_at FROM connections WHERE integration_id =
    %s;

-- name: put_connection
INSERT INTO connections (integration_id, credentials, expires_at, updated_at) VALUES (%s, %s, %s,
    %s)
ON CONFLICT (integration_id) DO UPDATE SET credentials = excluded.credentials,
    expires_at = excluded.expires_at, updated_at = excluded.updated_at;

-- name: requeue_waiting_for_connection
UPDATE runs SET status = 'queued', next_attempt_at = %s
WHERE status = 'waiting_for_connection' RETURNING pg_notify('relaykit_wakeup', job_id);

-- name: delete_connection
DELETE FROM connections WHERE integration_id = %s;

-- name: list_connections
SELECT integration_id, credentials, expires_at, updated_at FROM connections ORDER BY
    integration_id;

-- refresh_connection holds the row FOR UPDATE over the refresh: other refreshers wait for
-- the commit, then see the new token.
-- name: connection_for_update
SELECT integration_id, credentials, expires_at, updated_at FROM connections WHERE integration_id =
    %s FOR UPDATE;

-- ==== listing (newest first; keyset pages after (time, id) = before) ======================

-- name: list_runs
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_runs_before
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE (created_at, id) < (%(before_at)s, %(before_id)s)
ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_runs_with_status
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE status = %(status)s
ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_runs_with_status_before
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE (created_at, id) < (%(before_at)s, %(before_id)s) AND status = %(status)s
ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_runs_of_job
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE job_id = %(job)s
ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_runs_of_job_before
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE (created_at, id) < (%(before_at)s, %(before_id)s) AND job_id = %(job)s
ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_runs_of_job_with_status
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE job_id = %(job)s AND status = %(status)s
ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_runs_of_job_with_status_before
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE (created_at, id) < (%(before_at)s, %(before_id)s) AND job_id = %(job)s AND status = %(status)s
ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: run_ids_with_prefix
SELECT id FROM runs WHERE id >= %(low)s AND id < %(high)s ORDER BY id LIMIT %(limit)s;

-- name: runs_of_event
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE created_at >= %(from_at)s AND event_id = %(event)s
ORDER BY created_at, id LIMIT %(limit)s;

-- name: runs_containing
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE strpos(payload, %(text)s) > 0 OR strpos(coalesce(output, ''), %(text)s) > 0
ORDER BY created_at DESC, id DESC LIMIT %(limit)s;

-- name: list_events
SELECT id, name, payload, timestamp, source, deliver_at, sent_by_run, status FROM events
ORDER BY timestamp DESC, id DESC LIMIT %(limit)s;

-- name: list_events_before
SELECT id, name, payload, timestamp, source, deliver_at, sent_by_run, status FROM events
WHERE (timestamp, id) < (%(before_at)s, %(before_id)s)
ORDER BY timestamp DESC, id DESC LIMIT %(limit)s;

-- ==== waitpoint tokens (store/_tokens.py) ===================================================

-- name: insert_token
INSERT INTO tokens (id, run_id, task_key, tags, created_at, expires_at)
VALUES (%(id)s, %(run_id)s, %(task_key)s, %(tags)s, %(created_at)s, %(expires_at)s)
ON CONFLICT (id) DO NOTHING;

-- name: get_token
SELECT id, run_id, task_key, tags, created_at, expires_at, completed_at, body
FROM tokens WHERE id = %s;

-- name: list_tokens
SELECT id, run_id, task_key, tags, created_at, expires_at, completed_at, body
FROM tokens ORDER BY created_at DESC, id DESC LIMIT %(limit)s;

-- name: list_run_tokens
SELECT id, run_id, task_key, tags, created_at, expires_at, completed_at, body
FROM tokens WHERE run_id = %(run_id)s ORDER BY created_at DESC, id DESC LIMIT %(limit)s;

-- Completes a token once, and only before it expires: (now, body, id, now).
-- name: complete_token
UPDATE tokens SET completed_at = %s, body = %s
WHERE id = %s AND completed_at IS NULL AND (expires_at IS NULL OR expires_at > %s);

-- end_attempt: a wait just stored for a token completed while the attempt ran is resolved
-- at once (due_if_matched then makes the run due). The run row is held by end_attempt, and
-- complete_token locks it first, so a completion committed before this statement is seen.
-- name: resolve_done_token_waits
UPDATE event_waits w SET event_id = t.id, event = t.body
FROM tokens t
WHERE w.run_id = %(id)s AND w.event_id IS NULL AND t.run_id = %(id)s
    AND t.completed_at IS NOT NULL AND w.event_name = '$relaykit/token/' || t.id;

-- ==== retrying a run from where it stopped (store/_retry.py) ================================

-- name: retry_payload
UPDATE runs SET payload = %(payload)s WHERE id = %(new)s;

-- The new run continues the old one's attempt count, so its first claim loads the copied
-- history (the engine skips loading for a run's first attempt).
-- name: retry_attempts
UPDATE runs SET attempt = (SELECT o.attempt FROM runs o WHERE o.id = %(id)s) WHERE id = %(new)s;

-- name: retry_copy_tasks
INSERT INTO tasks (run_id, key, name, kind, status, started_at, params, output, error, attempts,
    failures, ended_at, next_attempt_at, properties, icon, parent, busy_seconds)
SELECT %(new)s, key, name, kind, status, started_at, params, output, error, attempts, failures,
    ended_at, next_attempt_at, properties, icon, parent, busy_seconds
FROM tasks WHERE run_id = %(id)s AND key = ANY(%(keys)s);

-- the kept tasks' attempt history comes along: their failed attempts stay visible
-- name: retry_copy_task_attempts
INSERT INTO task_attempts (run_id, task_key, attempt, started_at, ended_at, error)
SELECT %(new)s, task_key, attempt, started_at, ended_at, error
FROM task_attempts WHERE run_id = %(id)s AND task_key = ANY(%(keys)s);

-- name: retry_copy_kv
INSERT INTO kv (scope, name, value, updated_at)
SELECT %(new_scope)s, name, value, updated_at FROM kv WHERE scope = %(old_scope)s;

-- ==== run tags (store/_tags.py) =============================================================

-- name: insert_run_tag
INSERT INTO run_tags (run_id, tag) VALUES (%s, %s) ON CONFLICT DO NOTHING;

-- name: run_tags_of
SELECT run_id, tag FROM run_tags WHERE run_id = ANY(%s) ORDER BY run_id, tag;

-- name: retry_copy_tags
INSERT INTO run_tags (run_id, tag) SELECT %(new)s, tag FROM run_tags WHERE run_id = %(id)s
ON CONFLICT DO NOTHING;

-- Runs with a tag, newest first, by job and status when given, after a keyset position.
-- name: list_tagged_runs
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE id IN (SELECT run_id FROM run_tags WHERE tag = %(tag)s)
    AND (%(job)s::text IS NULL OR job_id = %(job)s::text)
    AND (%(status)s::text IS NULL OR status = %(status)s::text)
    AND (%(before_at)s::double precision IS NULL
        OR (created_at, id) < (%(before_at)s::double precision, %(before_id)s::text))
ORDER BY created_at DESC, id DESC LIMIT %(limit)s;

-- name: retry_link
UPDATE runs SET retry_of = %(id)s WHERE id = %(new)s;

-- name: get_retry_of
SELECT retry_of FROM runs WHERE id = %s;
