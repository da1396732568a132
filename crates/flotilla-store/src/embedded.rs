//! A private PostgreSQL server in a temporary directory, for `make run` without a
//! `DATABASE_URL` and for tests.
//!
//! The server listens on a free loopback port with trust authentication (only loopback and
//! a unix socket in a private directory can reach it), runs without fsync, and is gone,
//! directory included, once [`EmbeddedPostgres::stop`] returns or the handle is dropped.
//!
//! It must not outlive its owner even when the owner is killed without a chance to clean
//! up, so every instance has a watchdog: a small `sh` process, in its own process group
//! (a Ctrl-C to the owner's group does not reach it), whose stdin is a pipe only the owner
//! holds. When the owner exits in any way the kernel closes the pipe, `read` returns, and
//! the watchdog stops the server (`pg_ctl stop -m immediate`) and removes the directory.
//!
//! PostgreSQL refuses to run as root. When the owner is root (containers, CI), the server,
//! `initdb`, `pg_ctl` and the watchdog run as the unprivileged `postgres` user (or
//! `nobody`), and the directory is handed to that user.

use std::fs::{self, File};
use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection};

const SUPERUSER: &str = "flotilla";
const DATABASE: &str = "flotilla";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Another process can take the port between our probe and the server's bind.
const PORT_ATTEMPTS: usize = 5;
/// Tried in order when the server must not run as root.
const UNPRIVILEGED_USERS: [&str; 2] = ["postgres", "nobody"];
const WATCHDOG_SCRIPT: &str =
    r#"read -r _; "$1" stop -D "$2" -m immediate -w -t 10 >/dev/null 2>&1; rm -rf -- "$3""#;

/// Why the embedded server could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in \
         /usr/lib/postgresql/*/bin: install PostgreSQL server binaries or set DATABASE_URL"
    )]
    BinariesNotFound,
    #[error(
        "running as root and no unprivileged user (postgres, nobody) exists to run \
         PostgreSQL as; create one or set DATABASE_URL"
    )]
    NoUnprivilegedUser,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what} failed: {output}")]
    Command { what: &'static str, output: String },
    #[error("PostgreSQL did not start: {0}")]
    NotStarted(String),
    #[error("cannot create the database in the embedded PostgreSQL: {0}")]
    CreateDatabase(String),
    #[error("the embedded PostgreSQL start or stop task did not complete")]
    TaskFailed,
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> EmbeddedError {
    let what = what.into();
    move |source| EmbeddedError::Io { what, source }
}

/// A running private PostgreSQL server. See the module docs for its lifecycle.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    dir: PathBuf,
    data_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<(u32, u32)>,
    port: u16,
    url: String,
    postmaster: Option<Child>,
    watchdog: Option<(Child, ChildStdin)>,
}

impl EmbeddedPostgres {
    /// Starts a server with database `flotilla` (about a second). Runs the blocking work
    /// off the async runtime.
    pub async fn start() -> Result<Self, EmbeddedError> {
        tokio::task::spawn_blocking(Self::start_blocking)
            .await
            .map_err(|_| EmbeddedError::TaskFailed)?
    }

    /// [`EmbeddedPostgres::start`] for callers without an async runtime, or inside one
    /// that may block for a second (a test's). The handle is tied to no runtime.
    pub fn start_blocking() -> Result<Self, EmbeddedError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedError::BinariesNotFound)?;
        let run_as = if effective_uid()? == 0 {
            Some(unprivileged_user()?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("flotilla-pg-")
            .tempdir()
            .map_err(io_error("cannot create a temporary directory"))?
            // From here on the watchdog, stop() or Drop removes the directory.
            .keep();
        let mut server = Self {
            data_dir: dir.join("data"),
            dir,
            bin_dir,
            run_as,
            port: 0,
            url: String::new(),
            postmaster: None,
            watchdog: None,
        };
        // On error `server` is dropped, which stops whatever was started and cleans up.
        server.prepare_dir()?;
        server.spawn_watchdog()?;
        server.initdb()?;
        server.start_postmaster()?;
        server.create_database()?;
        Ok(server)
    }

    /// `postgres://flotilla@127.0.0.1:<port>/flotilla`: trust auth, no password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// URL of another database on this server (tests create one per test).
    pub fn url_for_database(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temporary directory holding the cluster, the socket and the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The PostgreSQL data directory (inside [`EmbeddedPostgres::dir`]).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Process id of the postmaster while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.postmaster.as_ref().map(Child::id)
    }

    /// Stops the server (fast shutdown: open sessions are ended) and removes the
    /// directory.
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        tokio::task::spawn_blocking(move || self.stop_blocking())
            .await
            .map_err(|_| EmbeddedError::TaskFailed)?
    }

    /// [`EmbeddedPostgres::stop`] without an async runtime. Idempotent.
    pub fn stop_blocking(&mut self) -> Result<(), EmbeddedError> {
        let mut result = Ok(());
        if let Some(mut postmaster) = self.postmaster.take() {
            let stopped = self
                .command("pg_ctl")
                .arg("stop")
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-m", "fast", "-w", "-t", "30"])
                .output();
            if !matches!(&stopped, Ok(output) if output.status.success()) {
                // A wedged server must still go; its backends exit when the postmaster dies.
                let _ = postmaster.kill();
                result = Err(command_failure("pg_ctl stop", stopped));
            }
            let _ = postmaster.wait();
        }
        if let Some((mut watchdog, stdin)) = self.watchdog.take() {
            // The server is down, so the watchdog has nothing left to do; closing its pipe
            // first would make it run pg_ctl needlessly.
            let _ = watchdog.kill();
            let _ = watchdog.wait();
            drop(stdin);
        }
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir)
                .map_err(io_error(format!("cannot remove {}", self.dir.display())))?;
        }
        result
    }

    fn prepare_dir(&self) -> Result<(), EmbeddedError> {
        if let Some((uid, gid)) = self.run_as {
            chown(&self.dir, Some(uid), Some(gid)).map_err(io_error(format!(
                "cannot hand {} to uid {uid}",
                self.dir.display()
            )))?;
        }
        Ok(())
    }

    fn spawn_watchdog(&mut self) -> Result<(), EmbeddedError> {
        let mut command = Command::new("/bin/sh");
        command
            .args(["-c", WATCHDOG_SCRIPT, "flotilla-pg-watchdog"])
            .arg(self.bin_dir.join("pg_ctl"))
            .arg(&self.data_dir)
            .arg(&self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        let mut child = command
            .spawn()
            .map_err(io_error("cannot start the PostgreSQL watchdog"))?;
        let Some(stdin) = child.stdin.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(EmbeddedError::NotStarted(
                "watchdog has no stdin pipe".into(),
            ));
        };
        self.watchdog = Some((child, stdin));
        Ok(())
    }

    fn initdb(&self) -> Result<(), EmbeddedError> {
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output();
        match output {
            Ok(output) if output.status.success() => Ok(()),
            other => Err(command_failure("initdb", other)),
        }
    }

    fn start_postmaster(&mut self) -> Result<(), EmbeddedError> {
        let log_path = self.dir.join("postgres.log");
        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let log = File::create(&log_path)
                .map_err(io_error(format!("cannot create {}", log_path.display())))?;
            let mut command = self.command("postgres");
            command
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-p")
                .arg(port.to_string())
                .arg("-k")
                .arg(&self.dir)
                .args(["-c", "listen_addresses=127.0.0.1"])
                // Throwaway data: durability buys nothing and costs seconds per test run.
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off", "-c", "wal_level=minimal"])
                .args([
                    "-c",
                    "max_wal_senders=0",
                    "-c",
                    "unix_socket_permissions=0700",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                // Out of the owner's process group: its Ctrl-C is handled by the watchdog.
                .process_group(0);
            let child = command.spawn().map_err(io_error("cannot start postgres"))?;
            self.postmaster = Some(child);
            match self.wait_ready(port, &log_path) {
                Ok(()) => {
                    self.port = port;
                    self.url = self.url_for_database(DATABASE);
                    return Ok(());
                }
                Err(failure) => {
                    if let Some(mut child) = self.postmaster.take() {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    let port_taken = failure.contains("could not bind")
                        || failure.contains("Address already in use");
                    last_failure = failure;
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(EmbeddedError::NotStarted(last_failure))
    }

    /// Waits until the postmaster reports `ready` in its pid file and accepts TCP
    /// connections; on failure returns the log's tail.
    fn wait_ready(&mut self, port: u16, log_path: &Path) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let pid_file = self.data_dir.join("postmaster.pid");
        loop {
            let exited = match self.postmaster.as_mut().map(Child::try_wait) {
                Some(Ok(None)) => None,
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Err(error)) => Some(error.to_string()),
                None => Some("not running".to_owned()),
            };
            if let Some(status) = exited {
                return Err(format!(
                    "postgres exited ({status}): {}",
                    log_tail(log_path)
                ));
            }
            let ready = fs::read_to_string(&pid_file)
                .map(|text| text.lines().nth(7).is_some_and(|s| s.trim() == "ready"))
                .unwrap_or(false);
            if ready && TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not ready within {READY_TIMEOUT:?}: {}",
                    log_tail(log_path)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Creates the `flotilla` database. sqlx is async, and this may run inside a runtime
    /// that must not be blocked on, so the work gets a thread and a runtime of its own.
    fn create_database(&self) -> Result<(), EmbeddedError> {
        let admin_url = self.url_for_database("postgres");
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| EmbeddedError::CreateDatabase(e.to_string()))?;
                    runtime
                        .block_on(async {
                            let mut connection = PgConnection::connect(&admin_url).await?;
                            // Spelled out because SQL must be a literal; it is `DATABASE`.
                            connection.execute("CREATE DATABASE flotilla").await?;
                            connection.close().await
                        })
                        .map_err(|e| EmbeddedError::CreateDatabase(e.to_string()))
                })
                .join()
                .map_err(|_| EmbeddedError::TaskFailed)?
        })
    }

    /// A command for one of the server binaries, as the unprivileged user when needed, in
    /// a directory that user can read (initdb and postgres resolve the working directory).
    fn command(&self, binary: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(binary));
        command.current_dir(&self.dir);
        for variable in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
        ] {
            command.env_remove(variable);
        }
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(error) = self.stop_blocking() {
            tracing::warn!(%error, "stopping the embedded PostgreSQL");
        }
    }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: the first on PATH that has
/// all three, else the newest `/usr/lib/postgresql/<version>/bin` (Debian keeps them off
/// PATH).
fn find_bin_dir() -> Option<PathBuf> {
    find_bin_dir_in(std::env::var_os("PATH"), Path::new("/usr/lib/postgresql"))
}

fn find_bin_dir_in(path: Option<std::ffi::OsString>, versions_root: &Path) -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|binary| dir.join(binary).is_file())
    };
    if let Some(path) = path
        && let Some(dir) = std::env::split_paths(&path).find(|dir| has_all(dir))
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(versions_root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The effective uid, from `/proc` because std has no `geteuid` and unsafe code (libc)
/// is forbidden in this workspace.
fn effective_uid() -> Result<u32, EmbeddedError> {
    let status = fs::read_to_string("/proc/self/status")
        .map_err(io_error("cannot read /proc/self/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .ok_or_else(|| EmbeddedError::NotStarted("no Uid line in /proc/self/status".into()))
}

/// uid and gid of the first of [`UNPRIVILEGED_USERS`] in `/etc/passwd`.
fn unprivileged_user() -> Result<(u32, u32), EmbeddedError> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(io_error("cannot read /etc/passwd"))?;
    UNPRIVILEGED_USERS
        .iter()
        .find_map(|wanted| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let uid = fields.nth(1)?.parse().ok()?;
                let gid = fields.next()?.parse().ok()?;
                (name == *wanted && uid != 0).then_some((uid, gid))
            })
        })
        .ok_or(EmbeddedError::NoUnprivilegedUser)
}

fn free_port() -> Result<u16, EmbeddedError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(io_error("cannot find a free loopback port"))?;
    let port = listener
        .local_addr()
        .map_err(io_error("cannot find a free loopback port"))?
        .port();
    Ok(port)
}

fn command_failure(what: &'static str, output: io::Result<std::process::Output>) -> EmbeddedError {
    match output {
        Ok(output) => {
            let mut text = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            if text.is_empty() {
                text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            }
            EmbeddedError::Command {
                what,
                output: format!("{}: {text}", output.status),
            }
        }
        Err(source) => EmbeddedError::Io {
            what: format!("cannot run {what}"),
            source,
        },
    }
}

/// The last lines of the server log, for start-up errors.
fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if File::open(path)
        .and_then(|mut file| file.read_to_string(&mut text))
        .is_err()
    {
        return "(no log)".to_owned();
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_server_binaries_when_installed() {
        // Present on every development and CI machine of this project (dependencies.md).
        let dir = find_bin_dir();
        assert!(dir.is_some_and(|dir| dir.join("postgres").is_file()));
    }

    #[test]
    fn prefers_path_then_the_newest_versioned_directory() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        let install = |dir: &Path| -> io::Result<()> {
            fs::create_dir_all(dir)?;
            for binary in ["initdb", "pg_ctl", "postgres"] {
                File::create(dir.join(binary))?;
            }
            Ok(())
        };
        let versions = root.path().join("lib");
        fs::create_dir_all(&versions)?;
        assert_eq!(find_bin_dir_in(None, &versions), None);
        let message = EmbeddedError::BinariesNotFound.to_string();
        assert!(message.contains("install PostgreSQL server binaries or set DATABASE_URL"));

        for version in ["9", "16", "15"] {
            install(&versions.join(version).join("bin"))?;
        }
        // Incomplete installs (client only) are skipped.
        fs::create_dir_all(versions.join("17").join("bin"))?;
        let newest = versions.join("16").join("bin");
        assert_eq!(find_bin_dir_in(None, &versions), Some(newest));

        let on_path = root.path().join("path-bin");
        install(&on_path)?;
        let path = std::env::join_paths([root.path().join("empty"), on_path.clone()]).ok();
        assert_eq!(find_bin_dir_in(path, &versions), Some(on_path));
        Ok(())
    }

    #[test]
    fn reads_effective_uid() {
        let uid = effective_uid().ok();
        let owner = fs::metadata("/proc/self")
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m));
        assert_eq!(uid, owner);
    }
}
