//! Flotilla's fleet state in PostgreSQL: the only crate that writes SQL.
//!
//! # Model
//!
//! - A [`clusters`] row per managed Cluster API `Cluster`, with its labels and reachability.
//! - A [`deployers`] row per `Kustomization` / `HelmRelease`, and per (cluster, deployer) a
//!   [`DeployerState`]: the revision applied there, readiness and drifted-object count.
//! - [`runs`]: one row per reconcile attempt, open while running, closed with an outcome.
//! - [`inventory`]: the objects a deployer last applied to a cluster (what prune compares to).
//! - [`drift`]: drift events with an open → resolved lifecycle. An event stores the object's
//!   identity, the changed field paths, the field managers blamed and a hash of what was
//!   observed, never a value, so Secret contents cannot reach the database.
//!
//! Rows are addressed by bigint ids ([`ClusterId`], [`DeployerId`]) obtained from the
//! upserts; deleting a cluster or deployer cascades to everything recorded about it.
//!
//! Every query is checked at run time (`sqlx::query_as`), so building needs no database.
//! The schema lives in the workspace's `migrations/` and is embedded here; [`Store::migrate`]
//! applies it.

pub mod clusters;
pub mod deployers;
pub mod drift;
pub mod embedded;
mod error;
pub mod inventory;
mod model;
pub mod runs;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

pub use clusters::{Cluster, ClusterUpsert};
pub use deployers::{Deployer, DeployerState, DeployerStateUpdate, RevisionCount};
pub use drift::{
    DriftEvent, DriftObservation, DriftSummary, DriftSummaryGrouping, ObjectDriftQuery,
};
pub use error::StoreError;
pub use inventory::InventoryEntry;
pub use model::{
    ClusterId, DeployerId, DeployerKind, DeployerStatus, DriftKind, DriftResolution, ObjectRef,
    RunOutcome,
};
pub use runs::{ReconcileRun, RunFinish, RunHistoryQuery};

/// The embedded migrations from the workspace's `migrations/` directory.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// How [`Store::connect_with`] connects.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long one connection attempt may take before the database counts as unreachable.
    pub connect_timeout: Duration,
    /// Upper bound on pooled connections.
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            max_connections: 10,
        }
    }
}

/// Handle to the fleet-state database: a connection pool plus the typed queries in this
/// crate's modules. Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Connects with [`StoreOptions::default`]: fails within about five seconds when the
    /// server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Parses `url`, proves the server answers with one direct connection, then opens the
    /// pool. Errors name the host, port and database but never the password.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let connect_options = parse_url(url)?;
        let target = describe_target(&connect_options);
        // A pool retries refused connections until its acquire timeout and then reports only
        // "timed out"; one direct attempt surfaces the real cause (refused, auth, no such db).
        let probe = tokio::time::timeout(
            options.connect_timeout,
            PgConnection::connect_with(&connect_options),
        )
        .await
        .map_err(|_| StoreError::ConnectTimeout {
            target: target.clone(),
            timeout: options.connect_timeout,
        })?
        .map_err(|source| StoreError::Connect {
            target: target.clone(),
            reason: redact(&source.to_string(), url),
        })?;
        // Closing politely is best-effort; the pool below does not depend on it.
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.connect_timeout)
            .connect_lazy_with(connect_options);
        Ok(Self { pool })
    }

    /// Wraps an existing pool (tests that manage their own).
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The underlying pool, for callers that need transactions spanning store functions.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies every migration not yet applied; a no-op on an up-to-date database.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Round-trips a trivial query: the readiness check.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for checked-out connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Parses a `postgres://` URL into connect options, with an error that explains what is
/// wrong without repeating the URL (it may hold a password).
pub fn parse_url(url: &str) -> Result<PgConnectOptions, StoreError> {
    let scheme_ok = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !scheme_ok {
        return Err(StoreError::InvalidUrl(
            "must start with postgres:// or postgresql://".to_owned(),
        ));
    }
    PgConnectOptions::from_str(url).map_err(|source| {
        let text = source.to_string();
        // sqlx nests "error with configuration: " once per layer; the variant says it already.
        let reason = text.trim_start_matches("error with configuration: ");
        StoreError::InvalidUrl(redact(reason, url))
    })
}

/// `host:port/database` for messages; never the user's password.
fn describe_target(options: &PgConnectOptions) -> String {
    let host = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    match options.get_database() {
        Some(database) => format!("{host}/{database}"),
        None => host,
    }
}

/// Removes the URL's password from `message`, in case a lower layer echoed it.
fn redact(message: &str, url: &str) -> String {
    let Some(password) = url_password(url) else {
        return message.to_owned();
    };
    if password.is_empty() {
        return message.to_owned();
    }
    message.replace(password, "***")
}

/// The raw (still percent-encoded) password of a URL, found without a URL parser so that
/// even unparseable URLs are redacted.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_found_and_redacted() {
        let url = "postgres://me:s3cret@db:5432/x";
        assert_eq!(url_password(url), Some("s3cret"));
        assert_eq!(redact("bad s3cret here", url), "bad *** here");
        assert_eq!(url_password("postgres://me@db/x"), None);
    }

    #[test]
    fn wrong_scheme_is_rejected_without_echo() {
        let err = parse_url("mysql://u:hunter2@h/db")
            .err()
            .map(|e| e.to_string());
        let text = err.unwrap_or_default();
        assert!(text.contains("postgres://"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
