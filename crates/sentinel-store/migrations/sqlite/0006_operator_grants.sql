-- Roles per environment: an operator holds grants, each a role for one
-- environment or (env_id NULL) for every environment of its organization.
-- operators.role is kept for older readers; it is no longer read.
CREATE TABLE operator_grants (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    operator_id  TEXT NOT NULL REFERENCES operators (id),
    role         TEXT NOT NULL,
    env_id       TEXT REFERENCES environments (id),
    created_at   BIGINT NOT NULL
);
CREATE INDEX operator_grants_operator ON operator_grants (org_id, operator_id);

-- Platform administrators create and list organizations.
ALTER TABLE operators ADD COLUMN platform_admin BOOLEAN NOT NULL DEFAULT FALSE;

-- Existing operators keep their role, for every environment.
INSERT INTO operator_grants (id, org_id, operator_id, role, env_id, created_at)
SELECT id || '-grant', org_id, id, role, NULL, created_at FROM operators;

-- The first admin of the default organization (the bootstrap operator) is
-- the platform administrator.
UPDATE operators SET platform_admin = TRUE WHERE id = (
    SELECT o.id FROM operators o JOIN organizations g ON g.id = o.org_id
    WHERE g.name = 'default' AND o.role = 'admin'
    ORDER BY o.created_at, o.id LIMIT 1);
