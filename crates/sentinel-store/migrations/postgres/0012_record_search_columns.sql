-- The search columns of migration 0004 (provider, policy decision, latency)
-- and the cost column of migration 0010 were generated from the record's
-- JSON, so every insert parsed each record's JSON again (four times) to
-- compute them. They become plain columns, keeping their values, that the
-- insert writes from the record it already has.
--
-- Most records carry no policy decision (no policy applies), so its index
-- is partial: a search by decision (`policy_decision = $n`) still uses it,
-- and a record without one costs no index entry.
ALTER TABLE request_records
    ALTER COLUMN provider DROP EXPRESSION,
    ALTER COLUMN policy_decision DROP EXPRESSION,
    ALTER COLUMN latency_ms DROP EXPRESSION,
    ALTER COLUMN cost_micros DROP EXPRESSION;
DROP INDEX IF EXISTS request_records_policy;
CREATE INDEX request_records_policy ON request_records (org_id, policy_decision, id)
    WHERE policy_decision IS NOT NULL;
