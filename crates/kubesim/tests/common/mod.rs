//! Helpers for the client tests: find the tool binaries, start a fleet, run kubectl.
#![allow(dead_code)] // Each test binary uses a different subset.

use kubesim::{ClusterHandle, Fleet, FleetConfig, FleetHandle};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The tools directory: `FLOTILLA_TOOLS_DIR`, else `~/.cache/flotilla/tools`.
fn tools_dir() -> PathBuf {
    std::env::var_os("FLOTILLA_TOOLS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/flotilla/tools")
        })
}

fn tool(env: &str, relative: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{env} points at {}, which does not exist",
            p.display()
        );
        return p;
    }
    let p = tools_dir().join(relative);
    assert!(
        p.is_file(),
        "{} is missing: run `make tools` (or set {env})",
        p.display()
    );
    p
}

/// kubectl 1.35.
pub fn kubectl_135() -> PathBuf {
    tool("FLOTILLA_KUBECTL", "bin/kubectl")
}

/// kubectl 1.37.
pub fn kubectl_137() -> PathBuf {
    tool("FLOTILLA_KUBECTL_137", "bin/kubectl-1.37")
}

/// Fails with the `make tools` hint when the definitions are missing.
pub fn require_definitions() {
    tool(
        "FLOTILLA_KUBERNETES_DEFINITIONS",
        "schemas/kubernetes-v1.35.0/_definitions.json",
    );
}

/// One cluster, with or without streaming-list support.
pub async fn start_one(watch_list: bool) -> FleetHandle {
    require_definitions();
    Fleet::start(FleetConfig::with_clusters(1).each(|c| c.watch_list = watch_list))
        .await
        .expect("fleet starts")
}

/// A kubectl binary bound to one cluster's kubeconfig, in a private cache and home.
pub struct Kubectl {
    pub bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    /// Value of `KUBE_FEATURE_WatchListClient`.
    pub watch_list_client: bool,
}

impl Kubectl {
    pub fn new(bin: PathBuf, cluster: &ClusterHandle, watch_list_client: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = cluster.write_kubeconfig(dir.path()).expect("kubeconfig");
        Kubectl {
            bin,
            dir,
            kubeconfig,
            watch_list_client,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env(
                "KUBE_FEATURE_WatchListClient",
                if self.watch_list_client {
                    "true"
                } else {
                    "false"
                },
            )
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        c
    }

    /// Runs kubectl to completion (60 s at most).
    pub fn run(&self, args: &[&str]) -> Output {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("kubectl {args:?} did not finish in 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().expect("output")
    }

    /// Runs kubectl and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl and insists on failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Writes a file into the working directory.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).expect("write file");
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs `f` for every combination of kubectl binary, client WatchListClient gate and
/// server streaming-list support that matters: (1.35, on, server on), (1.35, on, server
/// off → the 422 fallback), (1.35, off), (1.37, on).
pub async fn each_client(f: impl AsyncFn(&Kubectl, &ClusterHandle)) {
    let combos = [
        (kubectl_135(), true, true),
        (kubectl_135(), true, false),
        (kubectl_135(), false, true),
        (kubectl_137(), true, true),
    ];
    for (bin, client, server) in combos {
        let fleet = start_one(server).await;
        let cluster = &fleet.clusters()[0];
        let k = Kubectl::new(bin.clone(), cluster, client);
        eprintln!(
            "== {} WatchListClient={client} server watch-list={server}",
            bin.display()
        );
        f(&k, cluster).await;
        fleet.shutdown().await;
    }
}
