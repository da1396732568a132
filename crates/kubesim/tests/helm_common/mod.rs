//! Running the real `helm` 4 binary against one kubesim cluster, in the kubectl helper's
//! private home and with its kubeconfig and WatchListClient setting.
#![allow(dead_code)] // Each test binary uses a different subset.

use super::common::Kubectl;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn helm_bin() -> PathBuf {
    let dir = std::env::var_os("FLOTILLA_TOOLS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/flotilla/tools")
        });
    let p = std::env::var_os("FLOTILLA_HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("bin/helm"));
    assert!(p.is_file(), "{} is missing: run `make tools`", p.display());
    p
}

/// Runs helm to completion (120 s at most).
pub fn helm(k: &Kubectl, args: &[&str]) -> Output {
    let mut child = Command::new(helm_bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", k.path())
        .env("KUBECONFIG", &k.kubeconfig)
        .env("KUBECACHEDIR", k.path().join("cache"))
        .env(
            "KUBE_FEATURE_WatchListClient",
            if k.watch_list_client { "true" } else { "false" },
        )
        .current_dir(k.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("helm {args:?} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs helm and insists on success; returns stdout.
pub fn ok(k: &Kubectl, args: &[&str]) -> String {
    let out = helm(k, args);
    assert!(
        out.status.success(),
        "helm {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs helm and insists on failure; returns stdout and stderr together.
pub fn fails(k: &Kubectl, args: &[&str]) -> String {
    let out = helm(k, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "helm {args:?} unexpectedly succeeded:\n{text}"
    );
    text
}

/// The test chart under `tests/charts/`.
pub fn chart(name: &str) -> String {
    format!("{}/tests/charts/{name}", env!("CARGO_MANIFEST_DIR"))
}
