-- The attempt epoch: a fencing token that every claim of a run increments. Each write an
-- attempt makes (tasks, logs, key-value, events, waits, its end) names the epoch it was
-- claimed with and is refused once the run's epoch has moved on, so an attempt that lost its
-- lease (a stalled loop, a partition) can never write again, even if the same worker claims
-- the run once more. Runs claimed before this migration keep their attempt count as epoch.

ALTER TABLE runs ADD COLUMN epoch bigint NOT NULL DEFAULT 0;
UPDATE runs SET epoch = attempt;
