-- Waitpoint tokens (io.create_token / io.wait_for_token): a token belongs to the run that
-- created it (run_id, task_key); it is completed once, with JSON data (``body`` is the JSON
-- that resolves the run's wait, ``{"data": ...}``), or times out at expires_at.
-- A run waits for a token through an event_waits row named ``$relaykit/token/<id>``.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL,
    task_key     TEXT NOT NULL,
    tags         TEXT NOT NULL DEFAULT '[]',
    created_at   REAL NOT NULL,
    expires_at   REAL,
    completed_at REAL,
    body         TEXT
) WITHOUT ROWID;
CREATE INDEX tokens_run ON tokens (run_id);
CREATE INDEX tokens_created ON tokens (created_at, id);

-- Run tags (client.enqueue(tags=), send_event(tags=), io.tags.add): a set per run, listed
-- by tag (runs list --tag, GET /api/v1/runs?tag=).
CREATE TABLE run_tags (
    run_id TEXT NOT NULL,
    tag    TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
) WITHOUT ROWID;
CREATE INDEX run_tags_tag ON run_tags (tag, run_id);

-- The run a retry resumes (Operations.retry_run makes a new run; this links it back). NULL for
-- every other run.
ALTER TABLE runs ADD COLUMN retry_of TEXT;
