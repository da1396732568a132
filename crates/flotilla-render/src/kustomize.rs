//! Runs `kubectl kustomize` on a deployer's path, once per (artifact revision, deployer
//! spec); the result is substituted per cluster by [`BuiltManifests::for_cluster`].
//!
//! There is no kustomize in Rust, so the hub shells out as Argo CD's repo-server does. The
//! build works on a private copy of the artifact (see [`crate::workspace`]), generates a
//! `kustomization.yaml` where the path has none (see [`crate::generate`]), and builds an
//! overlay carrying the deployer's kustomize fields (see [`crate::overlay`]). kubectl runs
//! without `--enable-helm`, plugins or exec functions, so a manifest cannot run code on
//! the hub.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use flotilla_api::KustomizationSpec;
use tokio::process::Command;

use crate::built::BuiltManifests;
use crate::error::BuildError;
use crate::generate::generate_if_missing;
use crate::overlay::overlay_kustomization;
use crate::workspace::{copy_artifact, join_inside};

/// Where the artifact copy and the overlay live inside the build's temporary directory.
const ARTIFACT_DIR: &str = "artifact";
const OVERLAY_DIR: &str = "overlay";

/// How the hub runs kustomize.
#[derive(Clone, Debug)]
pub struct Kustomize {
    /// The `kubectl` binary (1.35 or later: kustomize v5.7 built in).
    pub kubectl: PathBuf,
    /// Longest a build may take before it is killed and fails.
    pub timeout: Duration,
}

impl Kustomize {
    /// kubectl at `kubectl`, with a one-minute timeout.
    pub fn new(kubectl: impl Into<PathBuf>) -> Self {
        Self {
            kubectl: kubectl.into(),
            timeout: Duration::from_secs(60),
        }
    }

    /// Builds `spec.path` of the artifact unpacked at `artifact` (read, never written),
    /// with the spec's kustomize fields and `commonMetadata`; `${var}`s are left for
    /// [`BuiltManifests::for_cluster`].
    pub async fn build(
        &self,
        artifact: &Path,
        spec: &KustomizationSpec,
    ) -> Result<BuiltManifests, BuildError> {
        let shown_path = spec.path.clone().unwrap_or_else(|| "./".into());
        let path = join_inside(Path::new(""), spec.path.as_deref().unwrap_or(""), "path")?;
        let components = spec
            .components
            .iter()
            .map(|c| join_inside(&path, c, "component"))
            .collect::<Result<Vec<_>, _>>()?;

        let artifact = artifact.to_owned();
        let prepared = {
            let spec = spec.clone();
            let path = path.clone();
            tokio::task::spawn_blocking(move || prepare(&artifact, &spec, &path, &components))
                .await
                .map_err(|e| BuildError::Io {
                    context: "preparing the build".into(),
                    source: std::io::Error::other(e),
                })??
        };

        let output = self.run(&prepared.dir.path().join(OVERLAY_DIR)).await;
        let output = output.map_err(|e| e.for_path(&shown_path))?;
        if !output.status.success() {
            let root = prepared.dir.path().join(ARTIFACT_DIR);
            let mut message = String::from_utf8_lossy(&output.stderr)
                .replace(&format!("{}/", root.display()), "")
                .replace(&root.display().to_string(), ".")
                .trim()
                .to_owned();
            if !prepared.skipped_links.is_empty() {
                let links: Vec<_> = prepared
                    .skipped_links
                    .iter()
                    .map(|l| l.display().to_string())
                    .collect();
                message.push_str(&format!(
                    " (symlinks leading out of the artifact were left out: {})",
                    links.join(", ")
                ));
            }
            return Err(BuildError::Kustomize {
                path: shown_path,
                message,
            });
        }
        let text = String::from_utf8(output.stdout).map_err(|_| BuildError::Kustomize {
            path: shown_path.clone(),
            message: "output is not UTF-8".into(),
        })?;
        BuiltManifests::parse(&text, spec.common_metadata.as_ref()).map_err(|source| {
            BuildError::Manifests {
                path: shown_path,
                source: Box::new(source),
            }
        })
    }

    async fn run(&self, dir: &Path) -> Result<std::process::Output, RunError> {
        // kustomize needs nothing from the hub's environment but PATH (for `git`, should a
        // kustomization use a remote base), HOME and TMPDIR; cloud or database
        // credentials in the hub's environment stay out of its reach.
        let kept =
            std::env::vars_os().filter(|(k, _)| ["PATH", "HOME", "TMPDIR"].iter().any(|v| k == v));
        let child = Command::new(&self.kubectl)
            .arg("kustomize")
            .arg(dir)
            .env_clear()
            .envs(kept)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RunError::Spawn(self.kubectl.clone(), e))?;
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(output) => output.map_err(|e| RunError::Spawn(self.kubectl.clone(), e)),
            // Dropping the future drops the child, which `kill_on_drop` kills.
            Err(_) => Err(RunError::Timeout(self.timeout)),
        }
    }
}

enum RunError {
    Spawn(PathBuf, std::io::Error),
    Timeout(Duration),
}

impl RunError {
    fn for_path(self, path: &str) -> BuildError {
        match self {
            Self::Spawn(kubectl, source) => BuildError::Io {
                context: format!("running {} kustomize for path {path:?}", kubectl.display()),
                source,
            },
            Self::Timeout(after) => BuildError::Timeout {
                path: path.to_owned(),
                after,
            },
        }
    }
}

/// The build's temporary directory, ready for kubectl.
struct Prepared {
    dir: tempfile::TempDir,
    skipped_links: Vec<PathBuf>,
}

fn prepare(
    artifact: &Path,
    spec: &KustomizationSpec,
    path: &Path,
    components: &[PathBuf],
) -> Result<Prepared, BuildError> {
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| BuildError::Io { context, source }
    };
    let dir = tempfile::Builder::new()
        .prefix("flotilla-render-")
        .tempdir()
        .map_err(io("creating a temporary directory"))?;
    let copy = dir.path().join(ARTIFACT_DIR);
    let report = copy_artifact(artifact, &copy).map_err(io("copying the artifact"))?;
    let source = copy.join(path);
    if !source.is_dir() {
        return Err(BuildError::PathNotFound {
            path: spec.path.clone().unwrap_or_default(),
        });
    }
    generate_if_missing(&source, path)?;

    let up = Path::new("..").join(ARTIFACT_DIR);
    let components: Vec<_> = components.iter().map(|c| up.join(c)).collect();
    let overlay = overlay_kustomization(spec, &up.join(path), &components);
    let overlay_dir = dir.path().join(OVERLAY_DIR);
    std::fs::create_dir(&overlay_dir).map_err(io("writing the overlay"))?;
    std::fs::write(overlay_dir.join("kustomization.yaml"), overlay.to_string())
        .map_err(io("writing the overlay"))?;
    Ok(Prepared {
        dir,
        skipped_links: report.skipped_links,
    })
}
