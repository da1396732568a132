//! The embedded server leaves nothing behind when stopped or dropped. (When its owner is
//! killed, the watchdog cleans up: flotilla-hub's tests kill a real owner to show it.)

use flotilla_store::Store;
use flotilla_store::embedded::EmbeddedPostgres;

/// Whether a process exists and is not a zombie awaiting its (foreign) parent.
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

#[tokio::test]
async fn start_serves_queries_and_stop_leaves_nothing() -> anyhow::Result<()> {
    let server = EmbeddedPostgres::start().await?;
    let pid = server
        .pid()
        .ok_or_else(|| anyhow::anyhow!("no postmaster pid"))?;
    let dir = server.dir().to_owned();
    assert!(server.data_dir().starts_with(&dir));
    assert!(process_alive(pid));
    assert!(server.url().starts_with("postgres://flotilla@127.0.0.1:"));

    let store = Store::connect(server.url()).await?;
    store.migrate().await?;
    store.ping().await?;
    store.close().await;

    server.stop().await?;
    assert!(!process_alive(pid), "postmaster {pid} survived stop");
    assert!(!dir.exists(), "{} survived stop", dir.display());
    Ok(())
}

#[test]
fn dropping_the_handle_stops_the_server() -> anyhow::Result<()> {
    let server = EmbeddedPostgres::start_blocking()?;
    let pid = server
        .pid()
        .ok_or_else(|| anyhow::anyhow!("no postmaster pid"))?;
    let dir = server.dir().to_owned();
    drop(server);
    assert!(!process_alive(pid));
    assert!(!dir.exists());
    Ok(())
}
