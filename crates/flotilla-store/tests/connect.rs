//! Connection errors are quick, clear, and never show the password.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use flotilla_store::{Store, StoreError};
use flotilla_testkit::postgres::TestDb;

const PASSWORD: &str = "Sup3rSecretPw";

#[tokio::test]
async fn malformed_urls_are_rejected_without_echoing_the_password() {
    let urls = [
        format!("mysql://admin:{PASSWORD}@localhost/db"),
        format!("postgres://admin:{PASSWORD}@localhost:notaport/db"),
        format!("postgres://admin:{PASSWORD}@local host/db"),
        format!("postgres://admin:{PASSWORD}@localhost/db?sslmode=sometimes"),
        format!("admin:{PASSWORD}@localhost/db"),
    ];
    for url in urls {
        let started = Instant::now();
        let error = Store::connect(&url).await.err();
        assert!(started.elapsed() < Duration::from_secs(1), "{url}");
        let Some(error) = error else {
            panic!("{url} was accepted");
        };
        assert!(
            matches!(error, StoreError::InvalidUrl(_)),
            "{url}: {error:?}"
        );
        let text = error.to_string();
        assert!(text.starts_with("invalid database URL: "), "{text}");
        assert!(!text.contains("error with configuration"), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!format!("{error:?}").contains(PASSWORD), "{error:?}");
    }
}

#[tokio::test]
async fn unreachable_server_fails_fast_naming_the_target() -> anyhow::Result<()> {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("postgres://admin:{PASSWORD}@127.0.0.1:{port}/fleet");
    let started = Instant::now();
    let error = Store::connect(&url).await.err();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let Some(error) = error else {
        panic!("connected to a closed port");
    };
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}/fleet")), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    Ok(())
}

#[tokio::test]
async fn silent_server_times_out() -> anyhow::Result<()> {
    // Accepts TCP but never speaks: the bounded connect timeout must end the wait.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let options = flotilla_store::StoreOptions {
        connect_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let url = format!("postgres://admin:{PASSWORD}@127.0.0.1:{port}/fleet");
    let started = Instant::now();
    let error = Store::connect_with(&url, options).await.err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(error, Some(StoreError::ConnectTimeout { .. })),
        "{error:?}"
    );
    drop(listener);
    Ok(())
}

#[tokio::test]
async fn wrong_database_is_reported_by_name() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let (server, _) = db.url.rsplit_once('/').unwrap_or((&db.url, ""));
    let url = format!("{server}/no_such_database");
    let error = Store::connect(&url).await.err().map(|e| e.to_string());
    let text = error.unwrap_or_default();
    assert!(text.contains("no_such_database"), "{text}");
    db.store.ping().await?;
    Ok(())
}
