-- Change requests: a proposed document against a base revision, reviewed
-- (in protected environments) and then applied, rejected, or found stale
-- because another revision was applied after its base. A promotion or a
-- rollback is a change request whose source is a revision (of another
-- environment, or of this one).
CREATE TABLE change_requests (
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    env_id          TEXT NOT NULL REFERENCES environments (id),
    number          BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    document        TEXT NOT NULL,
    message         TEXT NOT NULL,
    author_id       TEXT NOT NULL,
    author          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    base_revision   BIGINT NOT NULL,
    source_env      TEXT,
    source_revision BIGINT,
    approved_by_id  TEXT,
    approved_by     TEXT,
    approved_at     BIGINT,
    decided_by      TEXT,
    decided_at      BIGINT,
    reason          TEXT,
    applied_revision BIGINT,
    PRIMARY KEY (org_id, env_id, number)
);
CREATE INDEX change_requests_status ON change_requests (org_id, env_id, status);
