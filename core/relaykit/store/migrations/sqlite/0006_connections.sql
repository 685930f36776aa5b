-- Integration connections: encrypted credentials per integration id. lock_owner/lock_until
-- make an OAuth refresh single-flight across processes without holding SQLite's write lock
-- over the network call (see SqliteStore.refresh_connection).

CREATE TABLE IF NOT EXISTS connections (
    integration_id TEXT PRIMARY KEY,
    credentials    TEXT NOT NULL,
    expires_at     REAL,
    updated_at     REAL NOT NULL,
    lock_owner     TEXT,
    lock_until     REAL
);
