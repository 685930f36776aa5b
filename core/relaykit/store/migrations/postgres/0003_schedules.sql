-- Cron and interval schedules, fired once per (schedule, time) however many workers run.

CREATE TABLE schedules (
    id           text COLLATE "C" PRIMARY KEY,
    job_id       text COLLATE "C" NOT NULL,
    kind         text NOT NULL,
    spec         text NOT NULL,
    timezone     text NOT NULL,
    next_fire_at double precision NOT NULL,
    last_fire_at double precision,
    active       boolean NOT NULL DEFAULT true
);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE active;

CREATE TABLE schedule_fires (
    schedule_id text COLLATE "C" NOT NULL,
    fire_at     double precision NOT NULL,
    run_id      text COLLATE "C" NOT NULL,
    PRIMARY KEY (schedule_id, fire_at)
);
