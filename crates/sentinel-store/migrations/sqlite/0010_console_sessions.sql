-- The web console: operator sessions, shared by every replica through the
-- store. Only the SHA-256 digest of a session cookie is kept; the CSRF token
-- is derived from the cookie, so nothing here lets a reader act as the
-- operator. Rows past `expires_at` are ignored and pruned on the next
-- sign-in.
CREATE TABLE operator_sessions (
    digest       TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    operator_id  TEXT NOT NULL REFERENCES operators (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);
-- The overview charts sum what requests cost; read from the stored record
-- like the triage columns of migration 0004.
ALTER TABLE request_records ADD COLUMN cost_micros INTEGER
    GENERATED ALWAYS AS (json_extract(record, '$.cost_micros')) VIRTUAL;
