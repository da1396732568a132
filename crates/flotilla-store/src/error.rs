use std::time::Duration;

/// Everything that can go wrong talking to the fleet-state database.
///
/// Messages name the server as `host:port/database` and never include a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("cannot connect to PostgreSQL at {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("PostgreSQL at {target} did not answer within {timeout:?}")]
    ConnectTimeout { target: String, timeout: Duration },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A row held a value the schema's CHECK constraints should have excluded.
    #[error("unexpected value {value:?} for {what}")]
    InvalidValue { what: &'static str, value: String },
    #[error("{0} not found")]
    NotFound(String),
}
