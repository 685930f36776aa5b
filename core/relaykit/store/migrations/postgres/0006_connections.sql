-- Integration connections: encrypted credentials per integration id. An OAuth refresh holds
-- the row with SELECT ... FOR UPDATE, so it is single-flight across processes.

CREATE TABLE IF NOT EXISTS connections (
    integration_id text COLLATE "C" PRIMARY KEY,
    credentials    text NOT NULL,
    expires_at     double precision,
    updated_at     double precision NOT NULL
);
