-- Per-attempt history of a function task (the errors of failed attempts stay after a retry
-- succeeds), and the seconds a task actually spent executing, summed over its attempts (so a
-- task's duration leaves out retry back-off and the time its run waited). Both are written in
-- the transaction of the task record that ends an attempt, fenced by the attempt epoch.
-- busy_seconds is NULL for tasks recorded before this version and for tasks that run no
-- function (waits, patches): their duration is ended_at - started_at.
CREATE TABLE task_attempts (
    run_id     text COLLATE "C" NOT NULL,
    task_key   text COLLATE "C" NOT NULL,
    attempt    integer NOT NULL,
    started_at double precision NOT NULL,
    ended_at   double precision NOT NULL,
    error      text,
    PRIMARY KEY (run_id, task_key, attempt)
);

ALTER TABLE tasks ADD COLUMN busy_seconds double precision;
