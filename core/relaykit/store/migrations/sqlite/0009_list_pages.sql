-- Keyset pages of the runs and events lists (newest first, after a cursor's (time, id)):
-- each filter the lists offer gets an index whose order is the list's order, so a page is
-- one index range however deep it is, and `status = ?` never scans the runs of other states
-- (168 ms over 100,000 runs before). The (time, id) indexes replace the (time) ones.
DROP INDEX runs_created;
CREATE INDEX runs_created ON runs (created_at, id);
DROP INDEX runs_job_created;
CREATE INDEX runs_job_created ON runs (job_id, created_at, id);
CREATE INDEX runs_status_created ON runs (status, created_at, id);
CREATE INDEX events_timestamp ON events (timestamp, id);
