-- relaykit schema v1 (PostgreSQL). Times are UTC epoch seconds (double precision), as in the
-- SQLite schema, so both stores read and write the same values; JSON values are text, stored
-- and returned exactly as the engine wrote them. Ids and keys use the "C" collation: they sort
-- bytewise as in SQLite (whatever the database's locale), and compare faster.

CREATE TABLE runs (
    id               text COLLATE "C" PRIMARY KEY,
    job_id           text COLLATE "C" NOT NULL,
    job_version      text NOT NULL,
    status           text NOT NULL,
    payload          text NOT NULL,
    output           text,
    error            text,
    created_at       double precision NOT NULL,
    started_at       double precision,
    ended_at         double precision,
    attempt          integer NOT NULL DEFAULT 0,
    next_attempt_at  double precision,
    lease_owner      text,
    lease_expires_at double precision,
    is_test          boolean NOT NULL DEFAULT false,
    event_id         text,
    event_name       text,
    environment      text NOT NULL
);
-- The claim query's two halves: due queued/waiting runs, and running runs whose lease expired.
-- Partial indexes stay small: ended runs (the bulk of the table over time) are in neither.
CREATE INDEX runs_due ON runs (next_attempt_at) WHERE status IN ('queued', 'waiting');
CREATE INDEX runs_leased ON runs (lease_expires_at) WHERE status = 'running';
CREATE INDEX runs_job_created ON runs (job_id, created_at);
CREATE INDEX runs_created ON runs (created_at);

CREATE TABLE tasks (
    run_id          text COLLATE "C" NOT NULL,
    key             text COLLATE "C" NOT NULL,
    parent          text COLLATE "C",
    name            text NOT NULL,
    kind            text NOT NULL,
    status          text NOT NULL,
    params          text,
    output          text,
    error           text,
    attempts        integer NOT NULL,
    failures        integer NOT NULL,
    started_at      double precision NOT NULL,
    ended_at        double precision,
    next_attempt_at double precision,
    properties      text,
    icon            text,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE logs (
    run_id     text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,
    level      text NOT NULL,
    message    text NOT NULL,
    properties text NOT NULL,
    at         double precision NOT NULL,
    task       text,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE events (
    id          text COLLATE "C" PRIMARY KEY,
    name        text NOT NULL,
    payload     text NOT NULL,
    source      text NOT NULL,
    timestamp   double precision NOT NULL,
    deliver_at  double precision,
    sent_by_run text,
    status      text NOT NULL DEFAULT 'pending'
);
CREATE INDEX events_pending ON events (status, deliver_at);
CREATE INDEX events_timestamp ON events (timestamp);

CREATE TABLE kv (
    scope      text COLLATE "C" NOT NULL,
    name       text COLLATE "C" NOT NULL,
    value      text NOT NULL,
    updated_at double precision NOT NULL,
    PRIMARY KEY (scope, name)
);
