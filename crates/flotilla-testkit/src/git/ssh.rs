//! A private `sshd` serving the test repositories over `ssh://`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tempfile::TempDir;

use super::{GitRepos, RunExt, free_port};

/// A private `sshd` on a loopback port with its own host key and config, serving the
/// repositories under [`GitRepos::root`] to one client key; stopped on drop. Needs
/// `/usr/sbin/sshd` (Debian `openssh-server`); [`SshServer::available`] says whether it is
/// there, so tests can skip with a clear message where it is not.
#[derive(Debug)]
pub struct SshServer {
    child: std::process::Child,
    port: u16,
    root: PathBuf,
    user: String,
    /// The client's private key (OpenSSH format), for a Secret's `identity`.
    pub identity: String,
    /// A `known_hosts` line for the server, for a Secret's `known_hosts`.
    pub known_hosts: String,
    _dir: TempDir,
}

const SSHD: &str = "/usr/sbin/sshd";

impl SshServer {
    /// Whether `sshd` is installed.
    pub fn available() -> bool {
        Path::new(SSHD).is_file()
    }

    /// Generates keys, writes a config and starts `sshd -D` on a free port.
    pub fn start(repos: &GitRepos) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        for key in ["host_key", "client_key"] {
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "flotilla-test", "-f"])
                .arg(d.join(key))
                .stdout_ok()?;
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))?;
        let user = Command::new("id").arg("-un").stdout_ok()?;
        let port = free_port()?;
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nAllowUsers {user}\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config)?;
        // sshd insists on its privilege-separation directory even for one user.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sshd")?;
        let host_key = std::fs::read_to_string(d.join("host_key.pub"))?;
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        let server = Self {
            child,
            port,
            root: repos.root(),
            user,
            identity: std::fs::read_to_string(d.join("client_key"))?,
            known_hosts: format!("[127.0.0.1]:{port} {}\n", host_key.join(" ")),
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("sshd did not start listening on port {port}")
    }

    /// The `ssh://` URL of repository `name`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}/{name}.git",
            self.user,
            self.port,
            self.root.display()
        )
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
