-- sentinel verify: one row per run of an environment, its steps as JSON
-- text (sentinel_core::VerifyRun). Runs are small and kept; the readiness
-- review reads the latest of each environment.
CREATE TABLE verify_runs (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    env_id       TEXT NOT NULL REFERENCES environments (id),
    actor        TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    ok           BOOLEAN NOT NULL,
    steps        TEXT NOT NULL
);
CREATE INDEX verify_runs_latest ON verify_runs (org_id, env_id, started_at);
