//! Sentinel's store: every durable fact — organizations, operators,
//! environments, applications, keys, secrets, config revisions and change
//! requests, the audit
//! log, request records and alert states and events, provider test
//! outcomes and `sentinel verify` runs — in SQLite (the embedded default) or PostgreSQL,
//! behind one [`Store`].
//!
//! Invariants:
//! - this is the only crate that writes SQL; each query is written once and
//!   runs on both engines (`$N` placeholders, portable types);
//! - every organization-scoped method filters by `org_id`; rows of another
//!   organization behave as absent;
//! - every control-plane change appends its audit event in the same
//!   transaction, and audit events form a hash chain per organization;
//! - secret values are stored only sealed under the master key (which is
//!   never stored here) and leave only through [`Store::reveal_secrets`];
//! - client keys, operator tokens and console session cookies are stored as
//!   digests only.

mod alert;
mod audit;
mod audit_retention;
mod backend;
mod body;
mod change;
mod config;
mod crypto;
mod env;
mod error;
mod feed;
mod key;
mod lease;
mod org;
mod probe;
mod record;
mod record_json;
mod secret;
mod session;
mod verify;

pub use alert::{
    AlertEventFilter, AlertEventPage, MAX_WINDOW_RECORDS, Transition, TransitionOutcome,
};
pub use audit::{AuditContext, AuditFilter, AuditVerification};
pub use audit_retention::AuditRetention;
pub use backend::Store;
pub use body::StoredBodies;
pub use change::{ApplyOutcome, NewChange};
pub use crypto::{MasterKey, SecretValue};
pub use error::StoreError;
pub use key::NewKey;
pub use lease::Lease;
pub use org::{NewOperator, PLATFORM_ACTOR};
pub use record::{RecordFilter, RecordPage, RecordPoint};
pub use secret::{MasterKeyRotation, SecretVersion, SecretWrite, SecretWriteMode};
pub use session::Session;
