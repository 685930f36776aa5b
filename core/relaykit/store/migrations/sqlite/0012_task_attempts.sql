-- Per-attempt history of a function task (the errors of failed attempts stay after a retry
-- succeeds), and the seconds a task actually spent executing, summed over its attempts (so a
-- task's duration leaves out retry back-off and the time its run waited). Both are written in
-- the transaction of the task record that ends an attempt, fenced by the attempt epoch.
-- busy_seconds is NULL for tasks recorded before this version and for tasks that run no
-- function (waits, patches): their duration is ended_at - started_at.
CREATE TABLE task_attempts (
    run_id     TEXT NOT NULL,
    task_key   TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at   REAL NOT NULL,
    error      TEXT,
    PRIMARY KEY (run_id, task_key, attempt)
) WITHOUT ROWID;

ALTER TABLE tasks ADD COLUMN busy_seconds REAL;
