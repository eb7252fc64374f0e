-- Request and response bodies, kept apart from request records so records
-- stay small; written by the record writer, pruned after bodies_days.
CREATE TABLE request_bodies (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL,
    env_id              TEXT,
    time                BIGINT NOT NULL,
    mode                TEXT NOT NULL,
    request             TEXT,
    request_truncated   BOOLEAN NOT NULL,
    response            TEXT,
    response_truncated  BOOLEAN NOT NULL
);
CREATE INDEX request_bodies_env_time ON request_bodies (org_id, env_id, time);

-- Per organization: the highest audit seq a completed export covered (the
-- watermark pruning respects) and the anchor of the pruned prefix of the
-- chain (the seq and hash of the last pruned event), where verify starts.
CREATE TABLE audit_retention (
    org_id        TEXT PRIMARY KEY REFERENCES organizations (id),
    exported_seq  BIGINT NOT NULL DEFAULT 0,
    anchor_seq    BIGINT NOT NULL DEFAULT 0,
    anchor_hash   TEXT NOT NULL DEFAULT ''
);
