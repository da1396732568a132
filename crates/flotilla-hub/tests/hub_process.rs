//! The hub binary as an operator runs it: start-up, probes, metrics, shutdown, and the
//! one-line errors for bad configuration.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flotilla_testkit::postgres::TestDb;

/// A running `flotilla-hub` and the address it printed.
struct Hub {
    child: Child,
    base_url: String,
    banner: Vec<String>,
}

impl Hub {
    fn start(database_url: Option<&str>) -> anyhow::Result<Self> {
        let mut command = hub_command(database_url);
        command.env("FLOTILLA_LISTEN", "127.0.0.1:0");
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().context("hub exited before printing")??;
        let second = lines.next().context("hub printed only one line")??;
        let third = lines.next().context("hub printed only two lines")??;
        let address = first
            .strip_prefix("flotilla-hub listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .with_context(|| format!("unexpected banner: {first}"))?
            .to_owned();
        Ok(Self {
            child,
            base_url: address,
            banner: vec![first, second, third],
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let response = reqwest::get(format!("{}{path}", self.base_url)).await?;
        Ok((response.status().as_u16(), response.text().await?))
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        assert!(status.success());
        wait_with_timeout(&mut self.child, Duration::from_secs(20))
    }
}

fn hub_command(database_url: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flotilla-hub"));
    command
        .env_remove("DATABASE_URL")
        .env("FLOTILLA_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        // No management cluster, whatever the machine's kubeconfig says.
        .env("KUBECONFIG", "/nonexistent/flotilla-test-kubeconfig")
        .stdin(Stdio::null());
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command
}

fn wait_with_timeout(
    child: &mut Child,
    limit: Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            child.kill()?;
            bail!("hub did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The embedded PostgreSQL directory the hub announced.
fn embedded_dir(hub: &Hub) -> anyhow::Result<PathBuf> {
    let dir = hub.banner[1]
        .strip_prefix("fleet state: embedded PostgreSQL in ")
        .and_then(|rest| rest.strip_suffix(" (removed on exit)"))
        .with_context(|| format!("unexpected banner: {}", hub.banner[1]))?;
    Ok(dir.into())
}

/// Command lines of live processes that name `path`, read from /proc.
fn processes_mentioning(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let needle = path.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let cmdline = entry?.path().join("cmdline");
        // Processes come and go while we scan; a vanished one is simply not a survivor.
        let Ok(raw) = std::fs::read(&cmdline) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw).replace('\0', " ");
        if line.contains(&needle) {
            found.push(line);
        }
    }
    Ok(found)
}

/// Runs the hub to completion with the given environment and returns (success, stderr).
fn run_to_failure(database_url: Option<&str>, listen: &str) -> anyhow::Result<(bool, String)> {
    let mut child = hub_command(database_url)
        .env("FLOTILLA_LISTEN", listen)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let status = wait_with_timeout(&mut child, Duration::from_secs(30))?;
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().context("piped")?, &mut stderr)?;
    Ok((status.success(), stderr))
}

#[tokio::test]
async fn serves_probes_and_metrics_then_stops_on_sigterm() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let hub = Hub::start(Some(&db.url))?;
    assert_eq!(hub.banner[1], "fleet state: PostgreSQL from DATABASE_URL");
    assert!(
        hub.banner[2].starts_with("management cluster: none (no usable kubeconfig")
            && hub.banner[2].ends_with("source controllers are off"),
        "{}",
        hub.banner[2]
    );

    assert_eq!(hub.get("/healthz").await?, (200, "ok".to_owned()));
    assert_eq!(hub.get("/readyz").await?, (200, "ok".to_owned()));
    let (status, metrics) = hub.get("/metrics").await?;
    assert_eq!(status, 200);
    assert!(metrics.contains("flotilla_hub_database_up 1"), "{metrics}");
    assert_eq!(hub.get("/nope").await?.0, 404);

    let status = hub.terminate()?;
    assert!(status.success(), "hub exited with {status}");
    Ok(())
}

#[tokio::test]
async fn embedded_postgres_lives_and_dies_with_the_hub() -> anyhow::Result<()> {
    let hub = Hub::start(None)?;
    let data_dir = embedded_dir(&hub)?;
    assert!(
        data_dir.exists(),
        "{} should exist while the hub runs",
        data_dir.display()
    );

    assert_eq!(hub.get("/readyz").await?.0, 200);
    // Proves the /proc scan below can see the server at all.
    assert!(!processes_mentioning(&data_dir)?.is_empty());
    let status = hub.terminate()?;
    assert!(status.success(), "hub exited with {status}");
    assert!(
        !data_dir.exists(),
        "{} should be removed on exit",
        data_dir.display()
    );
    let survivors = processes_mentioning(&data_dir)?;
    assert!(
        survivors.is_empty(),
        "PostgreSQL outlived the hub: {survivors:?}"
    );
    Ok(())
}

#[tokio::test]
async fn killed_hub_leaves_no_embedded_postgres_behind() -> anyhow::Result<()> {
    let mut hub = Hub::start(None)?;
    let data_dir = embedded_dir(&hub)?;
    assert!(!processes_mentioning(&data_dir)?.is_empty());

    // SIGKILL: no Drop, no shutdown path; only the embedded server's watchdog can clean up.
    hub.child.kill()?;
    hub.child.wait()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while (data_dir.exists() || !processes_mentioning(&data_dir)?.is_empty())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !data_dir.exists(),
        "{} survived the hub",
        data_dir.display()
    );
    let survivors = processes_mentioning(&data_dir)?;
    assert!(
        survivors.is_empty(),
        "PostgreSQL outlived the hub: {survivors:?}"
    );
    Ok(())
}

#[test]
fn malformed_database_url_is_one_line_without_the_password() -> anyhow::Result<()> {
    let (ok, stderr) = run_to_failure(
        Some("postgres://admin:hunter2@db.example:notaport/fleet"),
        "127.0.0.1:0",
    )?;
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot connect to PostgreSQL"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    Ok(())
}

#[test]
fn unreachable_database_fails_fast_with_one_line() -> anyhow::Result<()> {
    // Port 1 on loopback refuses connections on any sane machine.
    let started = Instant::now();
    let (ok, stderr) =
        run_to_failure(Some("postgres://flotilla@127.0.0.1:1/fleet"), "127.0.0.1:0")?;
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot connect to PostgreSQL"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn port_in_use_is_one_line() -> anyhow::Result<()> {
    let taken = TcpListener::bind("127.0.0.1:0")?;
    let address = taken.local_addr()?.to_string();
    let (ok, stderr) = run_to_failure(Some("postgres://flotilla@127.0.0.1:1/fleet"), &address)?;
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: cannot listen on {address}")),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "{stderr}");
    Ok(())
}
