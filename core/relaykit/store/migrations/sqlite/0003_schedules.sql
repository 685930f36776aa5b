-- Cron and interval schedules, fired once per (schedule, time) however many workers run.

CREATE TABLE schedules (
    id           TEXT PRIMARY KEY,
    job_id       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    spec         TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    next_fire_at REAL NOT NULL,
    last_fire_at REAL,
    active       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX schedules_due ON schedules (active, next_fire_at);

CREATE TABLE schedule_fires (
    schedule_id TEXT NOT NULL,
    fire_at     REAL NOT NULL,
    run_id      TEXT NOT NULL,
    PRIMARY KEY (schedule_id, fire_at)
) WITHOUT ROWID;
