//! The embedded server leaves nothing behind: not on stop, not when its owner is killed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

fn wait_until(timeout: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
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

const OWNER_ENV: &str = "FLOTILLA_EMBEDDED_OWNER";

/// Runs only as the child of the test below: starts a server, says where it is, and waits
/// to be killed.
#[test]
#[ignore = "helper process for watchdog_cleans_up_after_a_killed_owner"]
fn owner_process() -> anyhow::Result<()> {
    if std::env::var_os(OWNER_ENV).is_none() {
        return Ok(());
    }
    let server = EmbeddedPostgres::start_blocking()?;
    let pid = server.pid().unwrap_or_default();
    println!("OWNER_READY {pid} {}", server.dir().display());
    std::thread::sleep(Duration::from_secs(60));
    drop(server);
    Ok(())
}

#[test]
fn watchdog_cleans_up_after_a_killed_owner() -> anyhow::Result<()> {
    let mut owner = Command::new(std::env::current_exe()?)
        .args([
            "owner_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(OWNER_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = owner
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut ready = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        // libtest prints "test owner_process ... " on the same line first.
        if let Some((_, rest)) = line.split_once("OWNER_READY ") {
            ready = rest
                .split_once(' ')
                .map(|(pid, dir)| (pid.parse::<u32>(), dir.to_owned()));
            break;
        }
    }
    let Some((Ok(pid), dir)) = ready else {
        let _ = owner.kill();
        let _ = owner.wait();
        anyhow::bail!("owner process did not start a server");
    };
    assert!(process_alive(pid));
    // SIGKILL: the owner gets no chance to run Drop.
    owner.kill()?;
    owner.wait()?;
    assert!(
        wait_until(Duration::from_secs(20), || !process_alive(pid)
            && !Path::new(&dir).exists()),
        "postmaster {pid} alive: {}, {dir} exists: {}",
        process_alive(pid),
        Path::new(&dir).exists()
    );
    Ok(())
}
