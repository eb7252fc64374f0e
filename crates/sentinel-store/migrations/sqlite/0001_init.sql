CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    token_digest  TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX operators_org ON operators (org_id);

CREATE TABLE environments (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    name        TEXT NOT NULL,
    protected   BOOLEAN NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

-- A data-plane host belongs to exactly one environment, across organizations.
CREATE TABLE environment_hosts (
    host    TEXT PRIMARY KEY,
    org_id  TEXT NOT NULL,
    env_id  TEXT NOT NULL REFERENCES environments (id)
);
CREATE INDEX environment_hosts_env ON environment_hosts (org_id, env_id);

CREATE TABLE applications (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    env_id      TEXT NOT NULL REFERENCES environments (id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (org_id, env_id, name)
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    env_id        TEXT NOT NULL REFERENCES environments (id),
    app_id        TEXT NOT NULL REFERENCES applications (id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    digest        TEXT NOT NULL,
    revoked_at    INTEGER,
    expires_at    INTEGER,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX api_keys_env ON api_keys (org_id, env_id);

CREATE TABLE secrets (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    env_id       TEXT NOT NULL REFERENCES environments (id),
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    wrapped_key  BLOB NOT NULL,
    sealed       BLOB NOT NULL,
    fingerprint  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (org_id, env_id, name, version)
);

CREATE TABLE config_revisions (
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    env_id       TEXT NOT NULL REFERENCES environments (id),
    revision     INTEGER NOT NULL,
    document     TEXT NOT NULL,
    author       TEXT NOT NULL,
    message      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    hash         TEXT NOT NULL,
    parent_hash  TEXT NOT NULL,
    PRIMARY KEY (org_id, env_id, revision)
);

CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    seq          INTEGER NOT NULL,
    time         INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    env_id       TEXT,
    details      TEXT NOT NULL,
    source_addr  TEXT,
    request_id   TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    UNIQUE (org_id, seq)
);

-- The record itself is kept as JSON; the columns beside it exist to filter.
CREATE TABLE request_records (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL,
    time             INTEGER NOT NULL,
    env_id           TEXT,
    app_id           TEXT,
    key_id           TEXT,
    status           INTEGER NOT NULL,
    error_code       TEXT,
    requested_model  TEXT,
    record           TEXT NOT NULL
);
CREATE INDEX request_records_org ON request_records (org_id, id);
CREATE INDEX request_records_env ON request_records (org_id, env_id, id);
CREATE INDEX request_records_key ON request_records (org_id, key_id, id);
CREATE INDEX request_records_time ON request_records (org_id, time);
