-- Event delivery and io.wait_for_event.

-- A run waiting for an event; event_id/event are set by the first matching event.
CREATE TABLE event_waits (
    run_id     TEXT NOT NULL,
    task_key   TEXT NOT NULL,
    event_name TEXT NOT NULL,
    filter     TEXT,
    event_id   TEXT,
    event      TEXT,
    PRIMARY KEY (run_id, task_key)
) WITHOUT ROWID;
CREATE INDEX event_waits_open ON event_waits (event_name, event_id);

ALTER TABLE events ADD COLUMN delivered_at REAL;
