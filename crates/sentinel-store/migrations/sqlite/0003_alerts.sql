-- Alerting: the current state of each rule (one row per organization,
-- environment and rule; `version` makes every transition a compare-and-set,
-- so with several replicas exactly one of them owns each transition) and
-- the history of transitions with the outcome of each delivery.
CREATE TABLE alert_states (
    org_id        TEXT NOT NULL,
    env_id        TEXT NOT NULL,
    rule          TEXT NOT NULL,
    state         TEXT NOT NULL,
    value         REAL,
    since         INTEGER NOT NULL,
    evaluated_at  INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    PRIMARY KEY (org_id, env_id, rule)
);

CREATE TABLE alert_events (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    env_id      TEXT NOT NULL,
    rule        TEXT NOT NULL,
    signal      TEXT NOT NULL,
    state       TEXT NOT NULL,
    value       REAL,
    threshold   REAL NOT NULL,
    time        INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    deliveries  TEXT NOT NULL
);
CREATE INDEX alert_events_env ON alert_events (org_id, env_id, id);
