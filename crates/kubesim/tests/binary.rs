//! The `kubesim serve` binary: kubeconfigs in the state directory, one ready line per
//! cluster, kubectl can use them, and SIGTERM ends it cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn serve_writes_kubeconfigs_and_stops_on_sigterm() {
    common::require_definitions();
    let kubectl = common::kubectl_135();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args([
            "serve",
            "--names",
            "alpha,beta",
            "--kubernetes-version",
            "v1.34.1",
        ])
        .arg("--state-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for name in ["alpha", "beta"] {
        let line = lines.next().expect("a ready line").unwrap();
        assert!(
            line.starts_with(&format!("cluster {name} ready at https://127.0.0.1:")),
            "{line}"
        );
    }
    let kubeconfig = dir.path().join("beta.kubeconfig");
    let out = Command::new(&kubectl)
        .args(["version", "-o", "json"])
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", dir.path())
        .env("KUBECACHEDIR", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.34.1");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "kubesim exited with {exit}");
}
