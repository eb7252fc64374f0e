//! The domain model of SPEC §2, as plain data. Every row carries the
//! organization it belongs to; nothing crosses organizations.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// The organization every self-hosted install starts with.
pub const DEFAULT_ORG: &str = "default";

/// A team adopting Sentinel. A self-hosted install has one, `default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: UnixMillis,
}

/// `dev`, `staging`, `prod`, …: owns its keys, secrets, providers and config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// Changes need a second operator's approval; plain http refused.
    pub protected: bool,
    /// Data-plane hosts bound to this environment. A request on one of these
    /// hosts with another environment's key is refused.
    pub hosts: Vec<String>,
    pub created_at: UnixMillis,
}

/// A consuming application inside an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub org_id: String,
    pub env_id: String,
    pub name: String,
    pub created_at: UnixMillis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Active,
    Revoked,
    Expired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// A client key as stored: never the key itself, only its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The key id embedded in the key (16 hex characters).
    pub id: String,
    pub org_id: String,
    pub env_id: String,
    pub app_id: String,
    pub name: String,
    /// `snt_<env>_<id>`: safe to show.
    pub prefix: String,
    /// SHA-256 of the key, hex. Never returned by any API.
    #[serde(skip_serializing)]
    pub digest_hex: String,
    pub revoked_at: Option<UnixMillis>,
    pub expires_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
    pub last_used_at: Option<UnixMillis>,
}

impl ApiKey {
    /// The key's state at `now`.
    pub fn state(&self, now: UnixMillis) -> KeyState {
        if self.revoked_at.is_some_and(|t| t <= now) {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|t| t <= now) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }
}

/// A provider credential's metadata. The value never leaves the store
/// except decrypted into a gateway snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretMeta {
    pub id: String,
    pub org_id: String,
    pub env_id: String,
    pub name: String,
    pub version: i64,
    /// Keyed fingerprint: equal credentials have equal fingerprints within
    /// an install, without revealing the value.
    pub fingerprint: String,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// What an operator may do, granted per environment or for all of them
/// (see [`Grant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Operator,
    Approver,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Approver => "approver",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Admin, Self::Operator, Self::Approver, Self::Auditor]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl Role {
    /// Whether this role carries `permission`: admins everything, operators
    /// read and change, approvers read and approve, auditors read, including
    /// the audit log and exports.
    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::Read => true,
            Permission::Write => matches!(self, Self::Admin | Self::Operator),
            Permission::Approve => matches!(self, Self::Admin | Self::Approver),
            Permission::Audit => matches!(self, Self::Admin | Self::Auditor),
            Permission::Admin => self == Self::Admin,
        }
    }
}

/// What an admin route asks of its caller, checked against the caller's
/// grants for the environment the route acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See configuration, keys, secrets' metadata, records, alerts.
    Read,
    /// Change keys, applications, secrets, providers, config.
    Write,
    /// Approve or reject change requests.
    Approve,
    /// Read the audit log and export records or audit events.
    Audit,
    /// Manage operators and lift protection.
    Admin,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Approve => "approve",
            Self::Audit => "audit",
            Self::Admin => "admin",
        }
    }
}

/// One role held by an operator, for one environment or (when `env_id` is
/// `None`) for every environment of the organization, present and future.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub role: Role,
    pub env_id: Option<String>,
    /// The environment's name, for display; `None` with `env_id`.
    pub env_name: Option<String>,
}

impl Grant {
    /// A grant of `role` over every environment.
    pub fn everywhere(role: Role) -> Self {
        Self {
            role,
            env_id: None,
            env_name: None,
        }
    }
}

/// Which environments a permission reaches for one operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvScope {
    /// Every environment (an organization-wide grant).
    All,
    /// Only these environment ids (possibly none).
    Only(Vec<String>),
}

impl EnvScope {
    pub fn contains(&self, env_id: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(ids) => ids.iter().any(|id| id == env_id),
        }
    }
}

/// A person or automation identity in one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operator {
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// What the operator may do, and where. No grants: nothing but `whoami`.
    pub grants: Vec<Grant>,
    /// May create and list organizations (the bootstrap admin is one).
    pub platform_admin: bool,
    pub created_at: UnixMillis,
    pub revoked_at: Option<UnixMillis>,
}

impl Operator {
    /// Whether a grant carries `permission` for environment `env_id`, or,
    /// with `None`, for the whole organization (an org-wide grant).
    pub fn may(&self, permission: Permission, env_id: Option<&str>) -> bool {
        self.grants.iter().any(|g| {
            g.role.allows(permission)
                && match (&g.env_id, env_id) {
                    (None, _) => true,
                    (Some(granted), Some(wanted)) => granted == wanted,
                    (Some(_), None) => false,
                }
        })
    }

    /// The environments where `permission` holds.
    pub fn scope(&self, permission: Permission) -> EnvScope {
        if self.may(permission, None) {
            return EnvScope::All;
        }
        let mut ids: Vec<String> = self
            .grants
            .iter()
            .filter(|g| g.role.allows(permission))
            .filter_map(|g| g.env_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        EnvScope::Only(ids)
    }
}

/// An immutable numbered snapshot of an environment's config document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRevision {
    pub org_id: String,
    pub env_id: String,
    pub revision: i64,
    /// The YAML document as the operator wrote it.
    pub document: String,
    pub author: String,
    pub message: String,
    pub created_at: UnixMillis,
    /// SHA-256 (hex) of the document.
    pub hash: String,
    /// Hash of the previous revision, empty for the first.
    pub parent_hash: String,
}

/// One control-plane change or sensitive read, chained by hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    pub org_id: String,
    /// Position in the organization's chain, from 1.
    pub seq: i64,
    pub time: UnixMillis,
    /// Operator id (or `system`).
    pub actor: String,
    /// e.g. `key.create`, `config.apply`.
    pub action: String,
    /// What was acted on, e.g. `key/0123…`.
    pub target: String,
    pub env_id: Option<String>,
    /// Before/after and other context; never a secret value.
    pub details: serde_json::Value,
    pub source_addr: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(grants: Vec<Grant>) -> Operator {
        Operator {
            id: "op".into(),
            org_id: "org".into(),
            name: "n".into(),
            grants,
            platform_admin: false,
            created_at: 0,
            revoked_at: None,
        }
    }

    fn on(role: Role, env_id: &str) -> Grant {
        Grant {
            role,
            env_id: Some(env_id.into()),
            env_name: None,
        }
    }

    #[test]
    fn roles_carry_their_permissions() {
        use Permission::*;
        let table = [
            (Role::Admin, [true, true, true, true, true]),
            (Role::Operator, [true, true, false, false, false]),
            (Role::Approver, [true, false, true, false, false]),
            (Role::Auditor, [true, false, false, true, false]),
        ];
        for (role, expected) in table {
            let got = [Read, Write, Approve, Audit, Admin].map(|p| role.allows(p));
            assert_eq!(got, expected, "{role:?}");
        }
    }

    #[test]
    fn grants_reach_their_environments_only() {
        // Changes dev freely, only reads prod.
        let op = operator(vec![on(Role::Operator, "dev"), on(Role::Auditor, "prod")]);
        assert!(op.may(Permission::Write, Some("dev")));
        assert!(!op.may(Permission::Write, Some("prod")));
        assert!(op.may(Permission::Read, Some("prod")));
        assert!(op.may(Permission::Audit, Some("prod")));
        assert!(!op.may(Permission::Audit, Some("dev")));
        assert!(!op.may(Permission::Read, Some("staging")));
        assert!(!op.may(Permission::Read, None), "no org-wide grant");
        assert_eq!(
            op.scope(Permission::Read),
            EnvScope::Only(vec!["dev".into(), "prod".into()])
        );
        assert_eq!(op.scope(Permission::Admin), EnvScope::Only(vec![]));

        let everywhere = operator(vec![Grant::everywhere(Role::Approver)]);
        assert!(everywhere.may(Permission::Approve, Some("anything")));
        assert!(everywhere.may(Permission::Read, None));
        assert!(!everywhere.may(Permission::Write, Some("dev")));
        assert_eq!(everywhere.scope(Permission::Read), EnvScope::All);
        assert!(EnvScope::All.contains("x"));
        assert!(!operator(vec![]).may(Permission::Read, Some("dev")));
    }

    fn key(revoked_at: Option<i64>, expires_at: Option<i64>) -> ApiKey {
        ApiKey {
            id: "k".into(),
            org_id: "o".into(),
            env_id: "e".into(),
            app_id: "a".into(),
            name: "n".into(),
            prefix: "snt_dev_k".into(),
            digest_hex: "secret-digest".into(),
            revoked_at,
            expires_at,
            created_at: 0,
            last_used_at: None,
        }
    }

    #[test]
    fn key_state_follows_times() {
        assert_eq!(key(None, None).state(10), KeyState::Active);
        assert_eq!(key(Some(5), None).state(10), KeyState::Revoked);
        assert_eq!(key(Some(50), None).state(10), KeyState::Active);
        assert_eq!(key(None, Some(10)).state(10), KeyState::Expired);
        assert_eq!(key(Some(1), Some(2)).state(10), KeyState::Revoked);
    }

    #[test]
    fn key_digest_is_never_serialized() {
        let json = serde_json::to_string(&key(None, None)).unwrap();
        assert!(!json.contains("secret-digest"));
    }
}
