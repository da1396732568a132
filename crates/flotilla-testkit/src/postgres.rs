//! PostgreSQL for tests: one server per test process, one fresh database per test.
//!
//! The server is `DATABASE_URL` when set, otherwise an [`EmbeddedPostgres`] started on
//! first use and shared by every test in the binary. It lives in a static, which is never
//! dropped; its watchdog stops it and removes its directory when the process exits.
//!
//! Each `#[tokio::test]` runs on its own runtime and a sqlx pool must not outlive the
//! runtime it was used on, so only the server (plain processes and a URL) is shared; every
//! [`TestDb`] opens its own pool.

use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use flotilla_store::Store;
use flotilla_store::embedded::EmbeddedPostgres;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The shared server, or why there is none (kept as text so every test reports it).
static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

#[derive(Debug)]
enum Server {
    Embedded(EmbeddedPostgres),
    /// `DATABASE_URL`: per-test databases are created, and dropped again, on it.
    External(String),
}

impl Server {
    /// Where to connect to create and drop databases.
    fn admin_url(&self) -> &str {
        match self {
            Server::Embedded(server) => server.url(),
            Server::External(url) => url,
        }
    }

    fn url_for_database(&self, database: &str) -> anyhow::Result<String> {
        match self {
            Server::Embedded(server) => Ok(server.url_for_database(database)),
            Server::External(url) => with_database(url, database),
        }
    }
}

fn server() -> anyhow::Result<&'static Server> {
    SERVER
        .get_or_init(|| start_server().map_err(|error| format!("{error:#}")))
        .as_ref()
        .map_err(|error| anyhow!("{error}"))
}

fn start_server() -> anyhow::Result<Server> {
    if let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
    {
        flotilla_store::parse_url(&url).context("DATABASE_URL")?;
        return Ok(Server::External(url));
    }
    let server = EmbeddedPostgres::start_blocking().context(
        "no PostgreSQL for tests: set DATABASE_URL, or install the PostgreSQL server \
         binaries (initdb, pg_ctl, postgres; Debian: apt-get install postgresql)",
    )?;
    Ok(Server::Embedded(server))
}

/// A database of its own for one test, migrated unless made with [`TestDb::empty`].
#[derive(Debug)]
pub struct TestDb {
    /// The database's name, unique per test.
    pub name: String,
    /// URL of the database; connect with it to test connection handling.
    pub url: String,
    /// A store connected to the database, on the calling test's runtime.
    pub store: Store,
}

impl TestDb {
    /// A fresh database with every migration applied.
    pub async fn new() -> anyhow::Result<Self> {
        let db = Self::empty().await?;
        db.store
            .migrate()
            .await
            .context("applying migrations to the test database")?;
        Ok(db)
    }

    /// A fresh database without migrations (for testing the migrations themselves).
    pub async fn empty() -> anyhow::Result<Self> {
        let server = server()?;
        let name = format!("flotilla_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(server.admin_url())
            .await
            .context("connecting to the test PostgreSQL server")?;
        // The name is generated above from a UUID: nothing to inject.
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .with_context(|| format!("creating test database {name}"))?;
        admin.close().await?;
        let url = server.url_for_database(&name)?;
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("connecting to test database {name}"))?;
        Ok(Self { name, url, store })
    }
}

/// Shorthand for [`TestDb::new`].
pub async fn test_db() -> anyhow::Result<TestDb> {
    TestDb::new().await
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // The embedded server's databases go with the server; a shared server's would pile
        // up, so they are dropped, from a thread with its own runtime because Drop may run
        // inside (and must not block on) the test's.
        let Ok(Server::External(admin_url)) = server() else {
            return;
        };
        let name = self.name.clone();
        let admin_url = admin_url.clone();
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin
                    .execute(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await?;
                admin.close().await?;
                Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            tracing::warn!(database = %self.name, "could not drop test database");
        }
    }
}

/// `url` with its database (the path) replaced, keeping credentials and parameters.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("DATABASE_URL has no scheme"))?;
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    let mut result = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_only_the_database() {
        let replace = |url| with_database(url, "t1").ok();
        assert_eq!(
            replace("postgres://u:p@h:5/db?sslmode=disable").as_deref(),
            Some("postgres://u:p@h:5/t1?sslmode=disable")
        );
        assert_eq!(replace("postgres://h").as_deref(), Some("postgres://h/t1"));
        assert_eq!(replace("postgres://h/").as_deref(), Some("postgres://h/t1"));
    }
}
