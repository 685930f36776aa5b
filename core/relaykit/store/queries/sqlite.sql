-- The named queries of SqliteStore (sqlite3 placeholders: ?, ?NNN, :name).
--
-- One block per statement, ``-- name: <name>`` above it; parsed once at import by
-- relaykit.store._tx.load_queries. The store's algorithms (store/_runs.py, _tasks.py, ...)
-- run them by name with the parameters queries/postgres.sql takes for the same name. An
-- empty block is a step SQLite does not need (a row or advisory lock: SQLite has one writer
-- at a time, in a BEGIN IMMEDIATE transaction), skipped without touching the database.
-- Lists are bound as one JSON array and read with json_each.

-- ==== runs and flow control =================================================================

-- name: create_run
INSERT INTO runs (id, job_id, job_version, status, payload, output, error, created_at, started_at,
    ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id,
    event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key,
    parent_run_id, parent_task_key, root_run_id, epoch)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_run_group
INSERT OR IGNORE INTO run_groups (run_id, grp, lim, period) VALUES (?, ?, ?, ?);

-- Idempotency: the key row is the arbiter. The upsert inserts the key, or takes over an
-- expired one, and RETURNs a row; on a live key it returns nothing.
-- name: claim_idempotency_key
INSERT INTO idempotency_keys (job_id, key, run_id, expires_at)
VALUES (:job, :key, :id, :expires)
ON CONFLICT (job_id, key) DO UPDATE SET run_id = excluded.run_id, expires_at = excluded.expires_at
WHERE idempotency_keys.expires_at <= :now
RETURNING run_id;

-- name: idempotent_run
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at,
    attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name,
    environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id,
    parent_task_key, root_run_id, epoch
FROM runs WHERE id = (SELECT run_id FROM idempotency_keys WHERE job_id = :job AND key = :key);

-- Point a key at another run: the one a debounce key led to, or a new run when the key's
-- run no longer exists.
-- name: move_idempotency_key
UPDATE idempotency_keys SET run_id = :id, expires_at = :expires WHERE job_id = :job AND key = :key;

-- Debounced triggers need no lock of their own: BEGIN IMMEDIATE already lets one writer in.
-- name: debounce_lock

-- name: debounce_run
UPDATE runs SET payload = :payload, next_attempt_at = :due
WHERE id = (SELECT id FROM runs WHERE job_id = :job AND debounce_key = :key
            AND status = 'queued' AND attempt = 0 ORDER BY created_at, id LIMIT 1)
RETURNING id, job_id, job_version, status, payload, output, error, created_at, started_at,
    ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id,
    event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key,
    parent_run_id, parent_task_key, root_run_id, epoch;

-- Unfinished runs per job (a worker reports those of jobs its app no longer defines).
-- name: unfinished_by_job
SELECT job_id, status, COUNT(*) FROM runs
WHERE status IN ('queued', 'running', 'waiting', 'waiting_for_connection')
GROUP BY job_id, status ORDER BY job_id, status;

-- name: get_run_code
SELECT code FROM runs WHERE id = ?;

-- name: get_run
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at,
    attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name,
    environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id,
    parent_task_key, root_run_id, epoch
FROM runs WHERE id = ?;

-- Leases are named by (run id, epoch) pairs, bound as two JSON arrays.
-- name: renew_leases
UPDATE runs SET lease_expires_at = ?1
WHERE status = 'running' AND (id, epoch) IN
    (SELECT i.value, e.value FROM json_each(?2) AS i JOIN json_each(?3) AS e ON e.key = i.key)
RETURNING id;

-- name: release_runs
UPDATE runs SET status = 'waiting', next_attempt_at = ?1, lease_owner = NULL,
    lease_expires_at = NULL
WHERE status = 'running' AND (id, epoch) IN
    (SELECT i.value, e.value FROM json_each(?2) AS i JOIN json_each(?3) AS e ON e.key = i.key);

-- A replay copies what the job's definition derived when the run was created (priority,
-- groups, cancel key) so that it obeys the same limits, without needing the job's code.
-- name: replay_run
INSERT INTO runs (id, status, created_at, next_attempt_at, job_id, job_version, payload,
    is_test, event_id, event_name, environment, priority, limited, cancel_key)
SELECT :new, 'queued', :now, :now, job_id, job_version, COALESCE(:payload, payload), is_test,
    event_id, event_name, environment, priority, limited, cancel_key
FROM runs WHERE id = :id;

-- name: replay_groups
INSERT INTO run_groups (run_id, grp, lim, period)
SELECT :new, grp, lim, period FROM run_groups WHERE run_id = :id;

-- ==== tasks and logs ========================================================================

-- The hot path: one statement, hence one implicit transaction, parameters
-- (run id, epoch, *task row). The task row is written only while the run is running under
-- this attempt's epoch (the fence); a retry's earlier row is updated in place.
-- name: upsert_task
INSERT INTO tasks (run_id, key, name, kind, status, started_at, params, output, error, attempts,
    failures, ended_at, next_attempt_at, properties, icon, parent, busy_seconds)
SELECT ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19
WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?1 AND epoch = ?2 AND status = 'running')
ON CONFLICT (run_id, key) DO UPDATE SET
    name = excluded.name, kind = excluded.kind, status = excluded.status,
    params = excluded.params, output = excluded.output, error = excluded.error,
    attempts = excluded.attempts, failures = excluded.failures, ended_at = excluded.ended_at,
    next_attempt_at = excluded.next_attempt_at, properties = excluded.properties,
    icon = excluded.icon, busy_seconds = excluded.busy_seconds;

-- Inside end_attempt the run row's fenced UPDATE already proved the lease (parameters: the
-- task row alone).
-- name: upsert_task_unfenced
INSERT INTO tasks (run_id, key, name, kind, status, started_at, params, output, error, attempts,
    failures, ended_at, next_attempt_at, properties, icon, parent, busy_seconds)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, key) DO UPDATE SET
    name = excluded.name, kind = excluded.kind, status = excluded.status,
    params = excluded.params, output = excluded.output, error = excluded.error,
    attempts = excluded.attempts, failures = excluded.failures, ended_at = excluded.ended_at,
    next_attempt_at = excluded.next_attempt_at, properties = excluded.properties,
    icon = excluded.icon, busy_seconds = excluded.busy_seconds;

-- name: load_tasks
SELECT key, name, kind, status, started_at, params, output, error, attempts, failures, ended_at,
    next_attempt_at, properties, icon, parent, busy_seconds
FROM tasks WHERE run_id = ? ORDER BY started_at, key;

-- One ended attempt of a function task, written with the task record that ends it (inside
-- that record's fenced write); re-writing the same attempt changes nothing.
-- name: insert_task_attempt
INSERT INTO task_attempts (run_id, task_key, attempt, started_at, ended_at, error)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, task_key, attempt) DO NOTHING;

-- name: load_task_attempts
SELECT task_key, attempt, started_at, ended_at, error
FROM task_attempts WHERE run_id = ? ORDER BY task_key, attempt;

-- PostgreSQL writes a task row and its attempt's history row in one statement; SQLite's
-- transaction around the two is local and short, so it has no such shortcut.
-- name: upsert_task_with_attempt

-- name: insert_log
INSERT OR IGNORE INTO logs (run_id, key, level, message, properties, at, task)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: load_logs
SELECT key, level, message, properties, at, task FROM logs WHERE run_id = ? ORDER BY at, key;

-- name: consume_event_wait
DELETE FROM event_waits WHERE run_id = ? AND task_key = ?;

-- expire_event_wait: the fence, then the wait dropped only while no event has resolved it.
-- name: lease_fence
SELECT 1 FROM runs WHERE id = ? AND epoch = ? AND status = 'running';

-- name: expire_event_wait
DELETE FROM event_waits WHERE run_id = ? AND task_key = ? AND event_id IS NULL;

-- name: event_wait_exists
SELECT 1 FROM event_waits WHERE run_id = ? AND task_key = ?;

-- ==== events ================================================================================

-- name: insert_event
INSERT OR IGNORE INTO events (id, name, payload, source, timestamp, deliver_at, sent_by_run,
    status)
VALUES (?, ?, ?, ?, ?, ?, ?, 'pending');

-- name: load_event_matches
SELECT task_key, event FROM event_waits WHERE run_id = ? AND event_id IS NOT NULL;

-- In EventRecord's field order (timestamp before source), not the table's.
-- name: get_event
SELECT id, name, payload, timestamp, source, deliver_at, sent_by_run, status FROM events WHERE id =
    ?;

-- name: cancel_event
UPDATE events SET status = 'canceled' WHERE id = ? AND status = 'pending';

-- ==== schedules =============================================================================

-- name: get_schedule
SELECT kind, spec, timezone, active FROM schedules WHERE id = ?;

-- name: upsert_schedule
INSERT INTO schedules (id, job_id, kind, spec, timezone, next_fire_at, active)
VALUES (?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (id) DO UPDATE SET job_id = excluded.job_id, kind = excluded.kind,
    spec = excluded.spec, timezone = excluded.timezone, next_fire_at = excluded.next_fire_at,
    active = 1;

-- BEGIN IMMEDIATE: one scheduler at a time.
-- name: claim_due_schedules
SELECT id, job_id, kind, spec, timezone, next_fire_at, last_fire_at FROM schedules
WHERE active = 1 AND next_fire_at <= ? ORDER BY next_fire_at LIMIT ?;

-- name: record_fire
INSERT OR IGNORE INTO schedule_fires (schedule_id, fire_at, run_id) VALUES (?, ?, ?);

-- name: move_schedule
UPDATE schedules SET next_fire_at = ?, last_fire_at = ? WHERE id = ?;

-- name: remove_schedules
UPDATE schedules SET active = 0 WHERE active = 1 AND id IN (SELECT value FROM json_each(?));

-- ==== key-value store =======================================================================

-- name: kv_get
SELECT value FROM kv WHERE scope = ? AND name = ?;

-- name: kv_set
INSERT INTO kv (scope, name, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at;

-- name: kv_delete
DELETE FROM kv WHERE scope = ? AND name = ?;

-- ==== API keys, users, sessions =============================================================

-- name: create_api_key
INSERT INTO api_keys (id, name, key_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?);

-- name: get_api_key
SELECT id, name, key_hash, created_at, revoked_at FROM api_keys WHERE id = ?;

-- name: list_api_keys
SELECT id, name, key_hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL;

-- name: create_user
INSERT OR IGNORE INTO users (name, password_hash, created_at) VALUES (?, ?, ?);

-- name: get_user
SELECT name, password_hash, created_at FROM users WHERE name = ?;

-- name: drop_expired_sessions
DELETE FROM sessions WHERE expires_at <= ?;

-- name: create_session
INSERT INTO sessions (token_hash, kind, subject, created_at, expires_at) VALUES (?, ?, ?, ?, ?);

-- name: get_session
SELECT token_hash, kind, subject, created_at, expires_at FROM sessions WHERE token_hash = ? AND
    expires_at > ?;

-- name: take_session
DELETE FROM sessions WHERE token_hash = ? RETURNING token_hash, kind, subject, created_at,
    expires_at;

-- ==== connections ===========================================================================

-- name: get_connection
SELECT integration_id, credentials, expires_at, updated_at FROM connections WHERE integration_id =
    ?;

-- name: put_connection
INSERT INTO connections (integration_id, credentials, expires_at, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (integration_id) DO UPDATE SET credentials = excluded.credentials,
    expires_at = excluded.expires_at, updated_at = excluded.updated_at;

-- name: requeue_waiting_for_connection
UPDATE runs SET status = 'queued', next_attempt_at = ? WHERE status = 'waiting_for_connection';

-- name: delete_connection
DELETE FROM connections WHERE integration_id = ?;

-- name: list_connections
SELECT integration_id, credentials, expires_at, updated_at FROM connections ORDER BY
    integration_id;

-- ==== ending and cancelling runs ============================================================

-- The fenced end of an attempt: nothing changes unless the run is running under its epoch.
-- name: end_attempt
UPDATE runs SET status = :status, output = :output, error = :error, ended_at = :ended,
    next_attempt_at = :wake_at, lease_owner = NULL, lease_expires_at = NULL,
    code = COALESCE(code, :code)
WHERE id = :id AND epoch = :epoch AND status = 'running';

-- PostgreSQL ends a run without parent or children in one statement; SQLite's transaction
-- is already local and short, so it has no such shortcut (SqliteStore never runs this).
-- name: end_attempt_ended

-- A row lock PostgreSQL takes before ending a run; SQLite's BEGIN IMMEDIATE holds the file.
-- name: lock_parent

-- name: insert_event_wait
INSERT OR IGNORE INTO event_waits (run_id, task_key, event_name, filter) VALUES (?, ?, ?, ?);

-- An event that matched, or a child run that ended, while the attempt ran makes the run due
-- at once.
-- name: due_if_matched
UPDATE runs SET next_attempt_at = :now
WHERE id = :id AND (EXISTS (SELECT 1 FROM event_waits WHERE run_id = :id AND event_id IS NOT NULL)
    OR EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = :id AND t.kind = 'invoke'
        AND t.status = 'waiting' AND NOT EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = :id
            AND c.parent_task_key = t.key AND c.ended_at IS NULL)));

-- name: cancel_run
UPDATE runs SET status = 'canceled', ended_at = :now, lease_owner = NULL,
    lease_expires_at = NULL, next_attempt_at = NULL
WHERE id = :id AND status IN ('queued', 'running', 'waiting', 'waiting_for_connection');

-- Closing a run that ended (SqliteStore's close_runs, one run at a time): the children it was
-- waiting for are canceled (and closed in turn), no task of it waits forever, its event waits
-- and concurrency-group rows go, and the run that invoked it is woken once the last child its
-- task waits for has ended.
-- name: cancel_orphans
UPDATE runs SET status = 'canceled', ended_at = :now, next_attempt_at = NULL,
    lease_owner = NULL, lease_expires_at = NULL
WHERE parent_run_id = :id AND ended_at IS NULL AND parent_task_key IN
    (SELECT key FROM tasks WHERE run_id = :id AND kind = 'invoke' AND status = 'waiting')
RETURNING id;

-- name: drop_concurrency_groups
DELETE FROM run_groups WHERE run_id = :id AND period IS NULL;

-- name: cancel_open_tasks
UPDATE tasks SET status = 'canceled', ended_at = :now, next_attempt_at = NULL
WHERE run_id = :id AND status IN ('waiting', 'running');

-- name: drop_event_waits
DELETE FROM event_waits WHERE run_id = :id;

-- name: wake_parent
UPDATE runs SET next_attempt_at = :now
WHERE status = 'waiting' AND id = (SELECT parent_run_id FROM runs WHERE id = :id)
    AND NOT EXISTS (SELECT 1 FROM runs s JOIN runs me ON me.id = :id
        WHERE s.parent_run_id = me.parent_run_id AND s.parent_task_key = me.parent_task_key
            AND s.ended_at IS NULL);

-- ==== waking up =============================================================================

-- One branch per status condition, not an OR: each is a search of runs_live (status, job_id,
-- next_attempt_at), where an OR let SQLite pick runs_job_created and read every run the jobs
-- ever had. ``job_id IN (SELECT value FROM json_each(:jobs))`` keeps the index search.
-- name: next_wakeup
SELECT MIN(t) FROM (
    SELECT MIN(next_attempt_at) AS t FROM runs WHERE status IN ('queued', 'waiting')
        AND job_id IN (SELECT value FROM json_each(:jobs))
    UNION ALL SELECT MIN(lease_expires_at) FROM runs WHERE status = 'running'
        AND job_id IN (SELECT value FROM json_each(:jobs))
    UNION ALL SELECT MIN(COALESCE(deliver_at, timestamp)) FROM events WHERE status = 'pending'
    UNION ALL SELECT MIN(next_fire_at) FROM schedules WHERE active = 1);

-- name: has_unfinished_work
SELECT 1 FROM runs WHERE status IN ('queued', 'waiting')
    AND job_id IN (SELECT value FROM json_each(:jobs)) AND next_attempt_at <= :now
UNION ALL SELECT 1 FROM runs WHERE status = 'running'
    AND job_id IN (SELECT value FROM json_each(:jobs))
UNION ALL SELECT 1 FROM events WHERE status = 'pending' AND COALESCE(deliver_at, timestamp) <= :now
UNION ALL SELECT 1 FROM schedules WHERE active = 1 AND next_fire_at <= :now
LIMIT 1;

-- ==== event delivery ========================================================================

-- An event delivered in the transaction that inserts it.
-- name: insert_event_to_deliver
INSERT OR IGNORE INTO events (id, name, payload, source, timestamp, deliver_at, sent_by_run,
    status)
VALUES (?, ?, ?, ?, ?, ?, ?, 'pending');

-- The due pending events, read before delivering each in its own transaction.
-- name: due_events
SELECT id, name, payload, timestamp, source, deliver_at, sent_by_run, status FROM events
WHERE status = 'pending' AND COALESCE(deliver_at, timestamp) <= ?
ORDER BY COALESCE(deliver_at, timestamp) LIMIT ?;

-- BEGIN IMMEDIATE serializes writers: re-checked inside the delivering transaction.
-- name: event_still_pending
SELECT 1 FROM events WHERE id = ? AND status = 'pending';

-- name: mark_delivered
UPDATE events SET status = 'delivered', delivered_at = ? WHERE id = ?;

-- name: lock_cancel_parents

-- A running run too: its attempt's next write is refused (the status fence).
-- name: cancel_by_keys
UPDATE runs SET status = 'canceled', ended_at = :now, next_attempt_at = NULL,
    lease_owner = NULL, lease_expires_at = NULL
WHERE cancel_key IN (SELECT value FROM json_each(:keys))
    AND status IN ('queued', 'running', 'waiting', 'waiting_for_connection')
RETURNING id;

-- name: open_waits
SELECT run_id, task_key, filter FROM event_waits WHERE event_name = ? AND event_id IS NULL;

-- name: lock_runs

-- name: lock_open_waits
SELECT run_id, task_key, filter FROM event_waits
WHERE event_name = ? AND event_id IS NULL AND run_id IN (SELECT value FROM json_each(?))
ORDER BY run_id, task_key;

-- name: resolve_wait
UPDATE event_waits SET event_id = ?, event = ? WHERE run_id = ? AND task_key = ?;

-- name: wake_resolved
UPDATE runs SET next_attempt_at = ?
WHERE id IN (SELECT value FROM json_each(?)) AND status = 'waiting';

-- ==== claiming (SqliteStore.claim_runs, one BEGIN IMMEDIATE transaction) ===================

-- Throttle rows older than their period count for nothing any more: dropped, so the table
-- (scanned on every claim) holds only live windows.
-- name: drop_expired_throttles
DELETE FROM run_groups WHERE period IS NOT NULL AND EXISTS (SELECT 1 FROM runs x
    WHERE x.id = run_groups.run_id AND x.started_at <= :now - run_groups.period);

-- How many runs each group has running (a throttle: started within its period).
-- name: busy_groups
SELECT g.grp, COUNT(*) FROM runs x JOIN run_groups g ON g.run_id = x.id
WHERE x.status = 'running' AND x.limited = 1 AND x.lease_expires_at >= :now
    AND g.period IS NULL GROUP BY g.grp
UNION ALL SELECT g.grp, COUNT(*) FROM run_groups g JOIN runs x ON x.id = g.run_id
WHERE g.period IS NOT NULL AND x.started_at > :now - g.period GROUP BY g.grp;

-- The runnable runs of the jobs: due, or leased by a worker whose lease expired. Two
-- branches, each a search of runs_live (status, job_id, ...): written as one OR, SQLite
-- (which has no statistics) read the jobs' every run through runs_job_created instead, 14 ms
-- at 100,000 runs for one job. Never a run in :exclude (those the caller is executing); a run
-- in a group at its limit (:busy, a JSON object group -> running count) waits, and a
-- throttle holds back only a first start. Twice the limit is read: admit() may skip some.
-- name: claim_candidates_all
SELECT id, limited, started_at IS NOT NULL FROM runs
WHERE id IN (
    SELECT id FROM runs WHERE status IN ('queued', 'waiting')
        AND job_id IN (SELECT value FROM json_each(:jobs)) AND next_attempt_at <= :now
    UNION ALL SELECT id FROM runs WHERE status = 'running'
        AND job_id IN (SELECT value FROM json_each(:jobs)) AND lease_expires_at < :now)
    AND id NOT IN (SELECT value FROM json_each(:exclude))
    AND (limited = 0 OR NOT EXISTS (SELECT 1 FROM run_groups g WHERE g.run_id = runs.id
        AND (g.period IS NULL OR runs.started_at IS NULL)
        AND g.lim <= (SELECT value FROM json_each(:busy) WHERE key = g.grp)))
ORDER BY priority DESC, next_attempt_at LIMIT :cap;

-- name: claim_candidates_run
SELECT id, limited, started_at IS NOT NULL FROM runs
WHERE id IN (
    SELECT id FROM runs WHERE status IN ('queued', 'waiting')
        AND job_id IN (SELECT value FROM json_each(:jobs)) AND next_attempt_at <= :now
    UNION ALL SELECT id FROM runs WHERE status = 'running'
        AND job_id IN (SELECT value FROM json_each(:jobs)) AND lease_expires_at < :now)
    AND id = :run_id AND id NOT IN (SELECT value FROM json_each(:exclude))
    AND (limited = 0 OR NOT EXISTS (SELECT 1 FROM run_groups g WHERE g.run_id = runs.id
        AND (g.period IS NULL OR runs.started_at IS NULL)
        AND g.lim <= (SELECT value FROM json_each(:busy) WHERE key = g.grp)))
ORDER BY priority DESC, next_attempt_at LIMIT :cap;

-- name: claim_candidates_family
SELECT id, limited, started_at IS NOT NULL FROM runs
WHERE id IN (
    SELECT id FROM runs WHERE status IN ('queued', 'waiting')
        AND job_id IN (SELECT value FROM json_each(:jobs)) AND next_attempt_at <= :now
    UNION ALL SELECT id FROM runs WHERE status = 'running'
        AND job_id IN (SELECT value FROM json_each(:jobs)) AND lease_expires_at < :now)
    AND (id = :run_id OR root_run_id = :run_id) AND id NOT IN (SELECT value FROM json_each(:exclude))
    AND (limited = 0 OR NOT EXISTS (SELECT 1 FROM run_groups g WHERE g.run_id = runs.id
        AND (g.period IS NULL OR runs.started_at IS NULL)
        AND g.lim <= (SELECT value FROM json_each(:busy) WHERE key = g.grp)))
ORDER BY priority DESC, next_attempt_at LIMIT :cap;

-- name: candidate_groups
SELECT run_id, grp, lim, period FROM run_groups WHERE run_id IN (SELECT value FROM json_each(?));

-- name: claim_admitted
UPDATE runs SET status = 'running', lease_owner = :owner, lease_expires_at = :lease_until,
    attempt = attempt + 1, epoch = epoch + 1, started_at = COALESCE(started_at, :now)
WHERE id IN (SELECT value FROM json_each(:ids))
RETURNING id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch;

-- ==== refresh_connection: a lock column, never SQLite's write lock over a network call ====

-- name: connection_with_lock
SELECT integration_id, credentials, expires_at, updated_at, lock_owner, lock_until FROM connections WHERE integration_id = ?;

-- name: lock_connection
UPDATE connections SET lock_owner = ?, lock_until = ? WHERE integration_id = ?;

-- name: unlock_connection
UPDATE connections SET lock_owner = NULL, lock_until = NULL
WHERE integration_id = ? AND lock_owner = ?;

-- ==== listing (newest first; keyset pages after (time, id) = before) ======================

-- name: list_runs
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_runs_before
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE (created_at, id) < (:before_at, :before_id)
ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_runs_with_status
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE status = :status
ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_runs_with_status_before
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE (created_at, id) < (:before_at, :before_id) AND status = :status
ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_runs_of_job
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE job_id = :job
ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_runs_of_job_before
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE (created_at, id) < (:before_at, :before_id) AND job_id = :job
ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_runs_of_job_with_status
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE job_id = :job AND status = :status
ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: list_runs_of_job_with_status_before
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE (created_at, id) < (:before_at, :before_id) AND job_id = :job AND status = :status
ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: run_ids_with_prefix
SELECT id FROM runs WHERE id >= :low AND id < :high ORDER BY id LIMIT :limit;

-- name: runs_of_event
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE created_at >= :from_at AND event_id = :event
ORDER BY created_at, id LIMIT :limit;

-- name: runs_containing
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE instr(payload, :text) > 0 OR instr(coalesce(output, ''), :text) > 0
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_events
SELECT id, name, payload, timestamp, source, deliver_at, sent_by_run, status FROM events
ORDER BY timestamp DESC, id DESC LIMIT :limit;

-- name: list_events_before
SELECT id, name, payload, timestamp, source, deliver_at, sent_by_run, status FROM events
WHERE (timestamp, id) < (:before_at, :before_id)
ORDER BY timestamp DESC, id DESC LIMIT :limit;

-- ==== waitpoint tokens (store/_tokens.py) ===================================================

-- name: insert_token
INSERT OR IGNORE INTO tokens (id, run_id, task_key, tags, created_at, expires_at)
VALUES (:id, :run_id, :task_key, :tags, :created_at, :expires_at);

-- name: get_token
SELECT id, run_id, task_key, tags, created_at, expires_at, completed_at, body
FROM tokens WHERE id = ?;

-- name: list_tokens
SELECT id, run_id, task_key, tags, created_at, expires_at, completed_at, body
FROM tokens ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_run_tokens
SELECT id, run_id, task_key, tags, created_at, expires_at, completed_at, body
FROM tokens WHERE run_id = :run_id ORDER BY created_at DESC, id DESC LIMIT :limit;

-- Completes a token once, and only before it expires: (now, body, id, now).
-- name: complete_token
UPDATE tokens SET completed_at = ?, body = ?
WHERE id = ? AND completed_at IS NULL AND (expires_at IS NULL OR expires_at > ?);

-- end_attempt: a wait just stored for a token completed while the attempt ran is resolved
-- at once (due_if_matched then makes the run due).
-- name: resolve_done_token_waits
UPDATE event_waits SET
    event_id = (SELECT t.id FROM tokens t WHERE '$relaykit/token/' || t.id = event_waits.event_name),
    event = (SELECT t.body FROM tokens t WHERE '$relaykit/token/' || t.id = event_waits.event_name)
WHERE run_id = :id AND event_id IS NULL AND event_name IN
    (SELECT '$relaykit/token/' || t.id FROM tokens t WHERE t.run_id = :id
        AND t.completed_at IS NOT NULL);

-- ==== retrying a run from where it stopped (store/_retry.py) ================================

-- name: retry_payload
UPDATE runs SET payload = :payload WHERE id = :new;

-- The new run continues the old one's attempt count, so its first claim loads the copied
-- history (the engine skips loading for a run's first attempt).
-- name: retry_attempts
UPDATE runs SET attempt = (SELECT o.attempt FROM runs o WHERE o.id = :id) WHERE id = :new;

-- name: retry_copy_tasks
INSERT INTO tasks (run_id, key, name, kind, status, started_at, params, output, error, attempts,
    failures, ended_at, next_attempt_at, properties, icon, parent, busy_seconds)
SELECT :new, key, name, kind, status, started_at, params, output, error, attempts, failures,
    ended_at, next_attempt_at, properties, icon, parent, busy_seconds
FROM tasks WHERE run_id = :id AND key IN (SELECT value FROM json_each(:keys));

-- the kept tasks' attempt history comes along: their failed attempts stay visible
-- name: retry_copy_task_attempts
INSERT INTO task_attempts (run_id, task_key, attempt, started_at, ended_at, error)
SELECT :new, task_key, attempt, started_at, ended_at, error
FROM task_attempts WHERE run_id = :id AND task_key IN (SELECT value FROM json_each(:keys));

-- name: retry_copy_kv
INSERT INTO kv (scope, name, value, updated_at)
SELECT :new_scope, name, value, updated_at FROM kv WHERE scope = :old_scope;

-- ==== run tags (store/_tags.py) =============================================================

-- name: insert_run_tag
INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?);

-- name: run_tags_of
SELECT run_id, tag FROM run_tags WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY run_id, tag;

-- name: retry_copy_tags
INSERT OR IGNORE INTO run_tags (run_id, tag) SELECT :new, tag FROM run_tags WHERE run_id = :id;

-- Runs with a tag, newest first, by job and status when given, after a keyset position.
-- name: list_tagged_runs
SELECT id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, parent_task_key, root_run_id, epoch
FROM runs WHERE id IN (SELECT run_id FROM run_tags WHERE tag = :tag)
    AND (:job IS NULL OR job_id = :job) AND (:status IS NULL OR status = :status)
    AND (:before_at IS NULL OR (created_at, id) < (:before_at, :before_id))
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: retry_link
UPDATE runs SET retry_of = :id WHERE id = :new;

-- name: get_retry_of
SELECT retry_of FROM runs WHERE id = ?;
