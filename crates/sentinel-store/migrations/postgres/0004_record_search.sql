-- Triage filters on request records: the answering provider, the policy
-- decision and the latency, read from the stored record itself. Generated
-- columns need no change to the insert path, and records stored before this
-- migration are searchable too (adding them rewrites the table once).
ALTER TABLE request_records
    ADD COLUMN provider TEXT
        GENERATED ALWAYS AS ((record::jsonb) ->> 'provider') STORED,
    ADD COLUMN policy_decision TEXT
        GENERATED ALWAYS AS ((record::jsonb) #>> '{policy,decision}') STORED,
    ADD COLUMN latency_ms BIGINT
        GENERATED ALWAYS AS (((record::jsonb) ->> 'latency_ms')::bigint) STORED;
CREATE INDEX request_records_provider ON request_records (org_id, provider, id);
CREATE INDEX request_records_policy ON request_records (org_id, policy_decision, id);
