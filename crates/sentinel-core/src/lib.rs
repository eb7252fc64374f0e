//! Sentinel's vocabulary: the domain types every other crate speaks
//! (organizations, environments, applications, keys, request records, audit
//! events), the client-key format, the table of client-visible errors, and
//! prices and costs in exact integer micro-USD.
//!
//! Invariant: this crate does no I/O, never reads the clock and never draws
//! randomness. Functions that need time take `now` (unix milliseconds) and
//! functions that need randomness take the random bytes as an argument.

pub mod alert;
pub mod breaker;
pub mod change;
pub mod domain;
pub mod error;
pub mod key;
pub mod name;
pub mod price;
pub mod probe;
pub mod record;
pub mod retry;
pub mod verify;

pub use alert::{AlertEvent, AlertState, Delivery};
pub use change::{ChangeKind, ChangeRequest, ChangeStatus};
pub use domain::*;
pub use error::{ErrorCode, ErrorKind};
pub use key::{ClientKey, KeyDigest, KeyParseError};
pub use name::{Name, NameError};
pub use price::{Price, PriceSource, cost_micros};
pub use probe::ProviderProbe;
pub use record::{
    AttemptRecord, BODY_CAP, BodyMode, PolicyFinding, PolicyOutcome, RecordBodies, RedactionCount,
    RequestRecord,
};
pub use verify::{VerifyRun, VerifyStep, VerifyStepKind};

/// Milliseconds since the unix epoch, the one time unit stored and compared.
pub type UnixMillis = i64;
