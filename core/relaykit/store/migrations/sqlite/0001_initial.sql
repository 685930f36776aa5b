-- relaykit schema v1 (SQLite). Times are UTC epoch seconds (REAL); JSON values are TEXT.

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    job_id           TEXT NOT NULL,
    job_version      TEXT NOT NULL,
    status           TEXT NOT NULL,
    payload          TEXT NOT NULL,
    output           TEXT,
    error            TEXT,
    created_at       REAL NOT NULL,
    started_at       REAL,
    ended_at         REAL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL,
    lease_owner      TEXT,
    lease_expires_at REAL,
    is_test          INTEGER NOT NULL DEFAULT 0,
    event_id         TEXT,
    event_name       TEXT,
    environment      TEXT NOT NULL
);
-- The claim query: runnable runs by due time, and expired leases.
CREATE INDEX runs_due ON runs (status, next_attempt_at);
CREATE INDEX runs_job_created ON runs (job_id, created_at);
CREATE INDEX runs_created ON runs (created_at);

CREATE TABLE tasks (
    run_id          TEXT NOT NULL,
    key             TEXT NOT NULL,
    parent          TEXT,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    params          TEXT,
    output          TEXT,
    error           TEXT,
    attempts        INTEGER NOT NULL,
    failures        INTEGER NOT NULL,
    started_at      REAL NOT NULL,
    ended_at        REAL,
    next_attempt_at REAL,
    properties      TEXT,
    icon            TEXT,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

CREATE TABLE logs (
    run_id     TEXT NOT NULL,
    key        TEXT NOT NULL,
    level      TEXT NOT NULL,
    message    TEXT NOT NULL,
    properties TEXT NOT NULL,
    at         REAL NOT NULL,
    task       TEXT,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    source      TEXT NOT NULL,
    timestamp   REAL NOT NULL,
    deliver_at  REAL,
    sent_by_run TEXT,
    status      TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX events_pending ON events (status, deliver_at);

CREATE TABLE kv (
    scope      TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (scope, name)
) WITHOUT ROWID;
