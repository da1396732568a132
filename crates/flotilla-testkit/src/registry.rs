//! A real OCI registry on loopback for OCIRepository and Helm OCI tests: Debian's
//! `docker-registry` (the CNCF distribution registry, `/usr/bin/docker-registry`), started
//! with its own config on a free port, storing blobs in a temporary directory, over plain
//! HTTP, optionally demanding basic auth from an htpasswd file (bcrypt entries, the only
//! kind the registry accepts, made with the `bcrypt` crate at its lowest cost).
//!
//! [`Registry::start_or_skip`] returns `None` with a message when the package is not
//! installed, except under CI (`CI` set), where that is an error: `.ci/run` installs it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

/// Where Debian's `docker-registry` package puts the binary.
pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";

/// A running registry; killed on drop.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Registry {
    /// Whether `docker-registry` is installed.
    pub fn available() -> bool {
        Path::new(DOCKER_REGISTRY).is_file()
    }

    /// Starts a registry, or explains why the test is skipped and returns `None` when
    /// `docker-registry` is not installed. Under CI a missing registry is an error instead.
    pub fn start_or_skip(basic: Option<(&str, &str)>) -> anyhow::Result<Option<Self>> {
        if !Self::available() {
            if std::env::var_os("CI").is_some() {
                bail!(
                    "{DOCKER_REGISTRY} is not installed; CI must install Debian's docker-registry"
                );
            }
            eprintln!(
                "SKIPPED: {DOCKER_REGISTRY} is not installed (apt-get install docker-registry)"
            );
            return Ok(None);
        }
        Self::start(basic).map(Some)
    }

    /// Starts the registry on a free loopback port; with `basic` = `(user, password)` every
    /// request must authenticate. Waits until it answers `/v2/`.
    pub fn start(basic: Option<(&str, &str)>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating the registry directory")?;
        let d = dir.path();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let auth = match basic {
            Some((user, password)) => {
                let hash = bcrypt::hash(password, 4).context("hashing the registry password")?;
                std::fs::write(d.join("htpasswd"), format!("{user}:{hash}\n"))?;
                format!(
                    "auth:\n  htpasswd:\n    realm: flotilla-test\n    path: {}\n",
                    d.join("htpasswd").display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: flotilla-test-secret\n{auth}",
            root = d.join("data").display()
        );
        std::fs::write(d.join("config.yml"), config)?;
        let log = std::fs::File::create(d.join("registry.log"))?;
        let child = Command::new(DOCKER_REGISTRY)
            .arg("serve")
            .arg(d.join("config.yml"))
            .env_remove("REGISTRY_HTTP_ADDR")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {DOCKER_REGISTRY}"))?;
        let mut registry = Self { child, port, dir };
        registry.wait_until_serving()?;
        Ok(registry)
    }

    fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(self.dir.path().join("registry.log"))
                    .unwrap_or_default();
                bail!("docker-registry exited with {status}: {}", log.trim());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "docker-registry did not listen on port {} within 20s",
            self.port
        )
    }

    /// `127.0.0.1:<port>`, the registry's host for references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `oci://127.0.0.1:<port>/<repository>`.
    pub fn url(&self, repository: &str) -> String {
        format!("oci://{}/{repository}", self.host())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
