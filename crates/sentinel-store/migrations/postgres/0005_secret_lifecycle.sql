-- Secrets lifecycle: a retired version is kept but never used again, and each
-- wrapped data key records which master key wrapped it (a one-way key id), so
-- a master-key rotation can be resumed and verified.
ALTER TABLE secrets ADD COLUMN retired_at BIGINT;
ALTER TABLE secrets ADD COLUMN key_id TEXT;
-- Existing older versions are retired when their successor was written.
UPDATE secrets SET retired_at = (
    SELECT MIN(n.created_at) FROM secrets n
    WHERE n.org_id = secrets.org_id AND n.env_id = secrets.env_id AND n.name = secrets.name
      AND n.version > secrets.version)
WHERE version < (SELECT MAX(v.version) FROM secrets v
                 WHERE v.org_id = secrets.org_id AND v.env_id = secrets.env_id AND v.name = secrets.name);
CREATE INDEX secrets_current_fingerprint ON secrets (org_id, fingerprint) WHERE retired_at IS NULL;
CREATE INDEX secrets_key_id ON secrets (key_id);
