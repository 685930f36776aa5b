-- The fingerprint of the run function's code (Job.fingerprint) on the first attempt that
-- ended, so `runs show`, the dashboard and `check-replay` can say which code a run started on.
-- NULL for runs made before this version and for runs no attempt has ended yet.
ALTER TABLE runs ADD COLUMN code TEXT;
