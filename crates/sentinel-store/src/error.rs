//! Store failures. Messages never include secret values, connection
//! passwords or SQL parameters.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (a duplicate name, a stale base
    /// revision, a host already bound). Clients get a 409, never a 500.
    #[error("conflict: {what}")]
    Conflict { what: String },
    /// A referenced row does not exist in this organization.
    #[error("not found: {what}")]
    NotFound { what: String },
    /// The database could not be reached or failed.
    #[error("database error: {0}")]
    Database(String),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored secret did not decrypt: wrong master key, or the row was
    /// moved or tampered with.
    #[error(
        "secret {name} in environment {env_id} cannot be decrypted: wrong master key or tampered data"
    )]
    MasterKeyMismatch { env_id: String, name: String },
    /// The master key text is not a 32-byte key.
    #[error("invalid master key: {0}")]
    InvalidMasterKey(&'static str),
    /// Stored data is not in the expected shape.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The system's random generator failed.
    #[error("random generator failed")]
    Random,
    /// Two writers raced for the same audit sequence number; retried internally.
    #[error("audit chain contention")]
    AuditContention,
}

impl StoreError {
    /// A stable, low-cardinality name for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "conflict",
            Self::NotFound { .. } => "not_found",
            Self::Database(_) => "database",
            Self::Migration(_) => "migration",
            Self::MasterKeyMismatch { .. } => "master_key_mismatch",
            Self::InvalidMasterKey(_) => "invalid_master_key",
            Self::Corrupt(_) => "corrupt",
            Self::Random => "random",
            Self::AuditContention => "audit_contention",
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.is_unique_violation()
            && db.message().contains("audit_events")
        {
            return Self::AuditContention;
        }
        Self::Database(describe(&error))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(error.to_string())
    }
}

/// A description of a sqlx error without connection details.
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => format!("database refused the operation: {}", db.message()),
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".to_owned(),
        sqlx::Error::PoolClosed => "the database pool is closed".to_owned(),
        sqlx::Error::Io(e) => format!("i/o error talking to the database: {e}"),
        sqlx::Error::Tls(_) => "TLS error talking to the database".to_owned(),
        sqlx::Error::Configuration(_) => "invalid database configuration".to_owned(),
        other => other.to_string(),
    }
}

/// Maps a unique violation to a `Conflict` described by `what`.
pub(crate) fn conflict(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(db)
            if db.is_unique_violation() && !db.message().contains("audit_events") =>
        {
            StoreError::Conflict { what: what() }
        }
        _ => StoreError::from(error),
    }
}
