-- Flow control (concurrency, throttle, debounce, idempotency, cancel_on, priority) and child
-- runs (io.invoke).

ALTER TABLE runs ADD COLUMN priority integer NOT NULL DEFAULT 0;
-- true when the run belongs to a concurrency or throttle group (rows in run_groups)
ALTER TABLE runs ADD COLUMN limited boolean NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN idempotency_key text COLLATE "C";
ALTER TABLE runs ADD COLUMN cancel_key text COLLATE "C";
ALTER TABLE runs ADD COLUMN debounce_key text COLLATE "C";
ALTER TABLE runs ADD COLUMN parent_run_id text COLLATE "C";
ALTER TABLE runs ADD COLUMN parent_task_key text COLLATE "C";
ALTER TABLE runs ADD COLUMN root_run_id text COLLATE "C";

CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX runs_root ON runs (root_run_id) WHERE root_run_id IS NOT NULL;
CREATE INDEX runs_cancel ON runs (cancel_key) WHERE cancel_key IS NOT NULL;
CREATE INDEX runs_debounce ON runs (job_id, debounce_key) WHERE debounce_key IS NOT NULL;

-- The groups a run counts against: ``period`` NULL is a concurrency limit (running runs),
-- otherwise a throttle (runs started in the last ``period`` seconds).
CREATE TABLE run_groups (
    run_id text COLLATE "C" NOT NULL,
    grp    text COLLATE "C" NOT NULL,
    lim    integer NOT NULL,
    period double precision,
    PRIMARY KEY (run_id, grp)
);
CREATE INDEX run_groups_grp ON run_groups (grp);

-- The run an idempotency key leads to, until it expires.
CREATE TABLE idempotency_keys (
    job_id     text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,
    run_id     text COLLATE "C" NOT NULL,
    expires_at double precision NOT NULL,
    PRIMARY KEY (job_id, key)
);
