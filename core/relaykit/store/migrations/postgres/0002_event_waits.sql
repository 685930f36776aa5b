-- Event delivery and io.wait_for_event.

-- A run waiting for an event; event_id/event are set by the first matching event.
CREATE TABLE event_waits (
    run_id     text COLLATE "C" NOT NULL,
    task_key   text COLLATE "C" NOT NULL,
    event_name text NOT NULL,
    filter     text,
    event_id   text,
    event      text,
    PRIMARY KEY (run_id, task_key)
);
CREATE INDEX event_waits_open ON event_waits (event_name) WHERE event_id IS NULL;

ALTER TABLE events ADD COLUMN delivered_at double precision;
