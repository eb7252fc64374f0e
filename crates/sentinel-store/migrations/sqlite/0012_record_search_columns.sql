-- The search columns of migration 0004 (provider, policy decision, latency)
-- and the cost column of migration 0010 were generated from the record's
-- JSON, so every insert parsed each record's JSON again. They become plain
-- columns that the insert writes from the record it already has; existing
-- rows are filled in from their JSON once, here.
--
-- Most records carry no policy decision (no policy applies), so its index
-- is partial: a search by decision (`policy_decision = ?`) still uses it,
-- and a record without one costs no index entry.
DROP INDEX IF EXISTS request_records_provider;
DROP INDEX IF EXISTS request_records_policy;
ALTER TABLE request_records DROP COLUMN provider;
ALTER TABLE request_records DROP COLUMN policy_decision;
ALTER TABLE request_records DROP COLUMN latency_ms;
ALTER TABLE request_records DROP COLUMN cost_micros;
ALTER TABLE request_records ADD COLUMN provider TEXT;
ALTER TABLE request_records ADD COLUMN policy_decision TEXT;
ALTER TABLE request_records ADD COLUMN latency_ms INTEGER;
ALTER TABLE request_records ADD COLUMN cost_micros INTEGER;
UPDATE request_records SET
    provider = json_extract(record, '$.provider'),
    policy_decision = json_extract(record, '$.policy.decision'),
    latency_ms = json_extract(record, '$.latency_ms'),
    cost_micros = json_extract(record, '$.cost_micros');
CREATE INDEX request_records_provider ON request_records (org_id, provider, id);
CREATE INDEX request_records_policy ON request_records (org_id, policy_decision, id)
    WHERE policy_decision IS NOT NULL;
