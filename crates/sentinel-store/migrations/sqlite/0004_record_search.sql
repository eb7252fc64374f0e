-- Triage filters on request records: the answering provider, the policy
-- decision and the latency, read from the stored record itself. Generated
-- columns need no change to the insert path, and records stored before this
-- migration are searchable too.
ALTER TABLE request_records ADD COLUMN provider TEXT
    GENERATED ALWAYS AS (json_extract(record, '$.provider')) VIRTUAL;
ALTER TABLE request_records ADD COLUMN policy_decision TEXT
    GENERATED ALWAYS AS (json_extract(record, '$.policy.decision')) VIRTUAL;
ALTER TABLE request_records ADD COLUMN latency_ms INTEGER
    GENERATED ALWAYS AS (json_extract(record, '$.latency_ms')) VIRTUAL;
CREATE INDEX request_records_provider ON request_records (org_id, provider, id);
CREATE INDEX request_records_policy ON request_records (org_id, policy_decision, id);
