//! Real Git servers on loopback for source tests, over a temporary directory of bare
//! repositories, driven by the real `git` binary:
//!
//! - [`GitDaemon`]: `git daemon` (the `git://` protocol);
//! - [`GitHttpServer`]: `git http-backend` run as a CGI program behind a small axum server,
//!   over HTTP or HTTPS, optionally demanding basic or bearer credentials;
//! - [`SshServer`]: a private `sshd` on a loopback port, with its own keys;
//! - [`SilentServer`]: accepts connections and never answers, for timeout tests.
//!
//! [`GitRepos`] creates the bare repositories and a working clone per repository
//! ([`WorkTree`]) to commit, tag, push and force-push with. Every `git` runs with an empty
//! `HOME` and no system config, so the machine's Git setup cannot leak into a test.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

use crate::tls::{TestCa, TlsListener};

mod ssh;
pub use ssh::SshServer;

/// A directory of bare repositories that servers export.
#[derive(Debug)]
pub struct GitRepos {
    dir: TempDir,
}

impl GitRepos {
    /// An empty directory of repositories.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating the repositories directory")?;
        std::fs::create_dir(dir.path().join("repos"))?;
        std::fs::create_dir(dir.path().join("home"))?;
        std::fs::create_dir(dir.path().join("work"))?;
        Ok(Self { dir })
    }

    /// The directory holding `<name>.git` bare repositories.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("repos")
    }

    /// Creates the bare repository `<name>.git` and a working clone of it with `branch`
    /// checked out (nothing is pushed until the first [`WorkTree::push`]).
    pub fn create(&self, name: &str, branch: &str) -> anyhow::Result<WorkTree> {
        let bare = self.root().join(format!("{name}.git"));
        let work = self.dir.path().join("work").join(name);
        let home = self.dir.path().join("home");
        // The bare repository's HEAD names `branch` too, so plain `git clone` checks it out.
        git(
            &home,
            self.dir.path(),
            ["init", "--bare", "-q", "-b", branch],
        )
        .arg(&bare)
        .status_ok()?;
        git(&home, self.dir.path(), ["init", "-q", "-b", branch])
            .arg(&work)
            .status_ok()?;
        let tree = WorkTree {
            dir: work,
            home,
            branch: branch.to_owned(),
        };
        tree.git(["remote", "add", "origin"])
            .arg(&bare)
            .status_ok()?;
        Ok(tree)
    }
}

/// A working clone whose `origin` is one of the served bare repositories.
#[derive(Debug)]
pub struct WorkTree {
    dir: PathBuf,
    home: PathBuf,
    branch: String,
}

impl WorkTree {
    /// The working directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `contents` to the relative `path`, creating parent directories.
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) -> anyhow::Result<&Self> {
        let full = self.dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, contents).with_context(|| format!("writing {path}"))?;
        Ok(self)
    }

    /// Creates a symlink at `path` pointing to `target` (which need not exist).
    pub fn symlink(&self, path: &str, target: &str) -> anyhow::Result<&Self> {
        std::os::unix::fs::symlink(target, self.dir.join(path))?;
        Ok(self)
    }

    /// Stages everything and commits; returns the commit's SHA-1.
    pub fn commit(&self, message: &str) -> anyhow::Result<String> {
        self.git(["add", "-A"]).status_ok()?;
        self.git(["commit", "-q", "--allow-empty", "-m", message])
            .status_ok()?;
        self.head()
    }

    /// The SHA-1 of `HEAD`.
    pub fn head(&self) -> anyhow::Result<String> {
        self.git(["rev-parse", "HEAD"]).stdout_ok()
    }

    /// Creates an annotated tag at `HEAD`.
    pub fn tag(&self, name: &str) -> anyhow::Result<()> {
        self.git(["tag", "-a", "-m", name, name]).status_ok()
    }

    /// Checks out a new branch at `HEAD` (later commits and pushes go to it).
    pub fn branch(&mut self, name: &str) -> anyhow::Result<()> {
        self.git(["checkout", "-q", "-b", name]).status_ok()?;
        self.branch = name.to_owned();
        Ok(())
    }

    /// Pushes the current branch and all tags.
    pub fn push(&self) -> anyhow::Result<()> {
        self.git(["push", "-q", "origin", &self.branch])
            .status_ok()?;
        self.git(["push", "-q", "origin", "--tags"]).status_ok()
    }

    /// Rewrites the branch: drops the last commit, commits `path` with `contents` in its
    /// place and force-pushes. Returns the new commit's SHA-1.
    pub fn force_push_rewrite(&self, path: &str, contents: &str) -> anyhow::Result<String> {
        self.git(["reset", "-q", "--hard", "HEAD~1"]).status_ok()?;
        self.write(path, contents)?;
        let sha = self.commit("rewritten")?;
        self.git(["push", "-q", "--force", "origin", &self.branch])
            .status_ok()?;
        Ok(sha)
    }

    fn git<const N: usize>(&self, args: [&str; N]) -> Command {
        git(&self.home, &self.dir, args)
    }
}

/// A `git` command isolated from the machine's configuration.
fn git<const N: usize>(home: &Path, dir: &Path, args: [&str; N]) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Flotilla Test")
        .env("GIT_AUTHOR_EMAIL", "test@flotilla.dev")
        .env("GIT_COMMITTER_NAME", "Flotilla Test")
        .env("GIT_COMMITTER_EMAIL", "test@flotilla.dev")
        .args(args);
    cmd
}

trait RunExt {
    fn status_ok(&mut self) -> anyhow::Result<()>;
    fn stdout_ok(&mut self) -> anyhow::Result<String>;
}

impl RunExt for Command {
    fn status_ok(&mut self) -> anyhow::Result<()> {
        self.stdout_ok().map(drop)
    }

    fn stdout_ok(&mut self) -> anyhow::Result<String> {
        let out = self.output().with_context(|| format!("running {self:?}"))?;
        if !out.status.success() {
            bail!(
                "{self:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

/// `git daemon` exporting every repository under a [`GitRepos`] root; stopped on drop.
#[derive(Debug)]
pub struct GitDaemon {
    child: std::process::Child,
    port: u16,
}

impl GitDaemon {
    /// Starts the daemon on a free loopback port and waits until it accepts connections.
    pub fn start(repos: &GitRepos) -> anyhow::Result<Self> {
        let port = free_port()?;
        let root = repos.root();
        let child = Command::new("git")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", root.display()))
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting git daemon")?;
        let daemon = Self { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(daemon);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("git daemon did not start listening on port {port}")
    }

    /// The `git://` URL of repository `name`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What [`GitHttpServer`] demands of clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpAuth {
    /// Nothing.
    None,
    /// HTTP basic auth with this user and password.
    Basic(String, String),
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

/// `git http-backend` behind an axum server on a loopback port; stopped on drop.
#[derive(Debug)]
pub struct GitHttpServer {
    addr: SocketAddr,
    scheme: &'static str,
    stats: Arc<HttpStats>,
    task: tokio::task::JoinHandle<()>,
}

/// Request counters of a [`GitHttpServer`].
#[derive(Debug, Default)]
pub struct HttpStats {
    /// `POST …/git-upload-pack` requests answered (fetch negotiations and packs).
    pub upload_pack_posts: AtomicU64,
    /// Requests refused for missing or wrong credentials.
    pub unauthorized: AtomicU64,
    /// Response body bytes sent by `git http-backend` (refs and packs).
    pub response_bytes: AtomicU64,
}

struct Backend {
    root: PathBuf,
    auth: HttpAuth,
    stats: Arc<HttpStats>,
}

impl GitHttpServer {
    /// Starts serving `repos` over plain HTTP on the current Tokio runtime.
    pub async fn start(repos: &GitRepos, auth: HttpAuth) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (app, stats) = Self::app(repos, auth);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            scheme: "http",
            stats,
            task,
        })
    }

    /// Starts serving `repos` over HTTPS with a certificate from `ca`.
    pub async fn start_tls(repos: &GitRepos, auth: HttpAuth, ca: &TestCa) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let listener = TlsListener::new(listener, ca.acceptor()?);
        let (app, stats) = Self::app(repos, auth);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            scheme: "https",
            stats,
            task,
        })
    }

    fn app(repos: &GitRepos, auth: HttpAuth) -> (axum::Router, Arc<HttpStats>) {
        let stats = Arc::new(HttpStats::default());
        let backend = Arc::new(Backend {
            root: repos.root(),
            auth,
            stats: stats.clone(),
        });
        (axum::Router::new().fallback(cgi).with_state(backend), stats)
    }

    /// The `http(s)://` URL of repository `name`.
    pub fn url(&self, name: &str) -> String {
        format!("{}://{}/{name}.git", self.scheme, self.addr)
    }

    /// The server's request counters.
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// Response body bytes sent so far.
    pub fn response_bytes(&self) -> u64 {
        self.stats.response_bytes.load(Ordering::SeqCst)
    }

    /// `POST …/git-upload-pack` requests so far.
    pub fn upload_pack_posts(&self) -> u64 {
        self.stats.upload_pack_posts.load(Ordering::SeqCst)
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn cgi(State(backend): State<Arc<Backend>>, request: Request<Body>) -> Response<Body> {
    match run_cgi(&backend, request).await {
        Ok(response) => response,
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

fn authorized(auth: &HttpAuth, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match auth {
        HttpAuth::None => true,
        HttpAuth::Basic(user, pass) => {
            given == Some(format!("Basic {}", base64(format!("{user}:{pass}").as_bytes())).as_str())
        }
        HttpAuth::Bearer(token) => given == Some(format!("Bearer {token}").as_str()),
    }
}

/// Runs one request through `git http-backend` (RFC 3875 CGI).
async fn run_cgi(backend: &Backend, request: Request<Body>) -> anyhow::Result<Response<Body>> {
    let (parts, body) = request.into_parts();
    if !authorized(&backend.auth, &parts.headers) {
        backend.stats.unauthorized.fetch_add(1, Ordering::SeqCst);
        let mut response = plain(StatusCode::UNAUTHORIZED, "credentials required".into());
        if matches!(backend.auth, HttpAuth::Basic(..)) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"git\""),
            );
        }
        return Ok(response);
    }
    let body = to_bytes(body, 256 * 1024 * 1024).await?;
    let path = parts.uri.path().to_owned();
    if parts.method == "POST" && path.ends_with("/git-upload-pack") {
        backend
            .stats
            .upload_pack_posts
            .fetch_add(1, Ordering::SeqCst);
    }
    let header_value = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", &backend.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header_value(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header_value(header::CONTENT_ENCODING),
        )
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(protocol) = parts
        .headers
        .get("git-protocol")
        .and_then(|v| v.to_str().ok())
    {
        cmd.env("GIT_PROTOCOL", protocol);
    }
    let mut child = cmd.spawn().context("starting git http-backend")?;
    let mut stdin = child.stdin.take().context("http-backend stdin")?;
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await?;
    let _ = writer.await;
    let response = parse_cgi_output(&output.stdout)?;
    let body_len = axum::body::HttpBody::size_hint(response.body()).exact();
    backend
        .stats
        .response_bytes
        .fetch_add(body_len.unwrap_or(0), Ordering::SeqCst);
    Ok(response)
}

/// Splits a CGI response into headers (with `Status:`) and body.
fn parse_cgi_output(out: &[u8]) -> anyhow::Result<Response<Body>> {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            out.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .context("http-backend sent no header block")?;
    let head = String::from_utf8_lossy(&out[..split.0]);
    let mut response = Response::new(Body::from(out[split.1..].to_vec()));
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("200");
            *response.status_mut() = StatusCode::from_bytes(code.as_bytes())?;
        } else {
            response.headers_mut().append(
                header::HeaderName::from_bytes(name.trim().as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
    }
    Ok(response)
}

fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

/// A TCP server that accepts connections and never answers: an unresponsive host. It
/// counts connections the client closed, to show that a client gave up.
#[derive(Debug)]
pub struct SilentServer {
    addr: SocketAddr,
    closed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentServer {
    /// Starts accepting on a free loopback port, reading and ignoring what clients send.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let closed = Arc::new(AtomicU64::new(0));
        let counter = closed.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
                    counter.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Ok(Self { addr, closed, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An `http://` URL on this server.
    pub fn url(&self) -> String {
        format!("http://{}/repo.git", self.addr)
    }

    /// Connections the client has closed so far.
    pub fn closed_connections(&self) -> u64 {
        self.closed.load(Ordering::SeqCst)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("user:pass", "dXNlcjpwYXNz"),
        ] {
            assert_eq!(base64(input.as_bytes()), encoded);
        }
    }
}
