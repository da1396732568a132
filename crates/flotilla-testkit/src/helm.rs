//! A real Helm chart repository on loopback for source tests.
//!
//! [`HelmCharts`] makes charts with the real `helm` binary (`helm package`) into a
//! repository directory and indexes it with `helm repo index`, optionally with absolute
//! URLs (`--url`). [`HelmRepoServer`] serves that directory as static files over HTTP or
//! HTTPS, optionally demanding basic auth, and counts requests per path so tests can see
//! how many downloads a fetch caused. Every `helm` runs with its cache, config and data
//! directories inside the temporary directory, so the machine's Helm setup cannot leak in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use tempfile::TempDir;

use crate::tls::{TestCa, TlsListener};

/// A directory of packaged charts and their `index.yaml`, built with the real `helm`.
#[derive(Debug)]
pub struct HelmCharts {
    dir: TempDir,
    helm: PathBuf,
}

impl HelmCharts {
    /// An empty repository; fails when `helm` is not installed (`make tools`).
    pub fn new() -> anyhow::Result<Self> {
        let helm = crate::tools::helm()?;
        let dir = tempfile::tempdir().context("creating the chart repository directory")?;
        for sub in ["repo", "src", "helm"] {
            std::fs::create_dir(dir.path().join(sub))?;
        }
        Ok(Self { dir, helm })
    }

    /// The directory served: packages and `index.yaml`.
    pub fn repo_dir(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// Creates chart `name` at `version` with one ConfigMap template whose data holds
    /// `value`, and packages it into the repository with `helm package`. Returns the
    /// package's path (`<repo>/<name>-<version>.tgz`).
    pub fn package(&self, name: &str, version: &str, value: &str) -> anyhow::Result<PathBuf> {
        let src = self
            .dir
            .path()
            .join("src")
            .join(format!("{name}-{version}"));
        let chart = src.join(name);
        std::fs::create_dir_all(chart.join("templates"))?;
        std::fs::write(
            chart.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\n"),
        )?;
        std::fs::write(chart.join("values.yaml"), format!("value: {value:?}\n"))?;
        std::fs::write(
            chart.join("templates/configmap.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n\
             data:\n  value: {{ .Values.value | quote }}\n",
        )?;
        self.helm(["package"])
            .arg(&chart)
            .arg("--destination")
            .arg(self.repo_dir())
            .run()?;
        let package = self.repo_dir().join(format!("{name}-{version}.tgz"));
        if !package.is_file() {
            bail!("helm package did not write {}", package.display());
        }
        Ok(package)
    }

    /// Writes `index.yaml` with `helm repo index`; package URLs are relative unless
    /// `base_url` is given (`--url`), which makes them absolute.
    pub fn index(&self, base_url: Option<&str>) -> anyhow::Result<()> {
        let mut cmd = self.helm(["repo", "index"]);
        cmd.arg(self.repo_dir());
        if let Some(url) = base_url {
            cmd.arg("--url").arg(url);
        }
        cmd.run()
    }

    /// Pushes `package` to the OCI registry `target` (`oci://host[:port]/repository`) over
    /// plain HTTP with `helm push`.
    pub fn push_plain_http(&self, package: &Path, target: &str) -> anyhow::Result<()> {
        self.helm(["push"])
            .arg(package)
            .args([target, "--plain-http"])
            .run()
    }

    /// Runs `helm` with `args` isolated from the machine's Helm configuration.
    pub fn helm<const N: usize>(&self, args: [&str; N]) -> Command {
        let home = self.dir.path().join("helm");
        let mut cmd = Command::new(&self.helm);
        cmd.env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env("HOME", &home)
            .args(args);
        cmd
    }
}

trait Run {
    fn run(&mut self) -> anyhow::Result<()>;
}

impl Run for Command {
    fn run(&mut self) -> anyhow::Result<()> {
        let out = self.output().with_context(|| format!("running {self:?}"))?;
        if !out.status.success() {
            bail!(
                "{self:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

/// Serves a directory as static files on a loopback port; stopped on drop.
#[derive(Debug)]
pub struct HelmRepoServer {
    addr: SocketAddr,
    scheme: &'static str,
    state: Arc<Served>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Served {
    root: PathBuf,
    /// `user:password` demanded as basic auth, if any.
    basic: Option<String>,
    /// Successful responses by request path.
    hits: Mutex<HashMap<String, u64>>,
}

impl HelmRepoServer {
    /// Serves `root` over plain HTTP; with `basic` = `(user, password)`, every request must
    /// carry those credentials.
    pub async fn start(root: &Path, basic: Option<(&str, &str)>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (app, state) = Self::app(root, basic);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            scheme: "http",
            state,
            task,
        })
    }

    /// Serves `root` over HTTPS with a certificate from `ca`.
    pub async fn start_tls(
        root: &Path,
        basic: Option<(&str, &str)>,
        ca: &TestCa,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let listener = TlsListener::new(listener, ca.acceptor()?);
        let (app, state) = Self::app(root, basic);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            scheme: "https",
            state,
            task,
        })
    }

    fn app(root: &Path, basic: Option<(&str, &str)>) -> (axum::Router, Arc<Served>) {
        let state = Arc::new(Served {
            root: root.to_owned(),
            basic: basic.map(|(u, p)| format!("{u}:{p}")),
            hits: Mutex::new(HashMap::new()),
        });
        (
            axum::Router::new()
                .fallback(serve)
                .with_state(state.clone()),
            state,
        )
    }

    /// The repository's URL, e.g. `http://127.0.0.1:4321`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// How many times `path` (e.g. `/index.yaml`) was served successfully.
    pub fn hits(&self, path: &str) -> u64 {
        let hits = self.state.hits.lock().unwrap_or_else(|p| p.into_inner());
        hits.get(path).copied().unwrap_or(0)
    }
}

impl Drop for HelmRepoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(state): State<Arc<Served>>, request: Request<Body>) -> Response<Body> {
    let status = |code: StatusCode| {
        let mut response = Response::new(Body::from(code.to_string()));
        *response.status_mut() = code;
        response
    };
    if let Some(expected) = &state.basic {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(format!("Basic {}", base64(expected.as_bytes())).as_str()) {
            let mut response = status(StatusCode::UNAUTHORIZED);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"charts\""),
            );
            return response;
        }
    }
    let path = request.uri().path().to_owned();
    let relative = path.trim_start_matches('/');
    if relative.is_empty() || relative.split('/').any(|c| c.is_empty() || c == "..") {
        return status(StatusCode::NOT_FOUND);
    }
    match tokio::fs::read(state.root.join(relative)).await {
        Ok(bytes) => {
            *state
                .hits
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(path)
                .or_default() += 1;
            Response::new(Body::from(bytes))
        }
        Err(_) => status(StatusCode::NOT_FOUND),
    }
}

fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}
