-- Outcomes of provider connectivity tests (providers test): one row per
-- (provider, model) call, the latest per pair read by the readiness review.
CREATE TABLE provider_tests (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    env_id      TEXT NOT NULL REFERENCES environments (id),
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    ok          BOOLEAN NOT NULL,
    status      INTEGER,
    latency_ms  INTEGER NOT NULL,
    error       TEXT,
    time        INTEGER NOT NULL
);
CREATE INDEX provider_tests_latest ON provider_tests (org_id, env_id, provider, model, time);
