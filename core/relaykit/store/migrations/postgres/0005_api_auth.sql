-- API keys, dashboard users and sessions (HTTP API and dashboard). Only hashes of secrets.

CREATE TABLE api_keys (
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL,
    key_hash   text COLLATE "C" NOT NULL UNIQUE,
    created_at double precision NOT NULL,
    revoked_at double precision
);

CREATE TABLE users (
    name          text COLLATE "C" PRIMARY KEY,
    password_hash text NOT NULL,
    created_at    double precision NOT NULL
);

CREATE TABLE sessions (
    token_hash text COLLATE "C" PRIMARY KEY,
    kind       text NOT NULL,
    subject    text NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
