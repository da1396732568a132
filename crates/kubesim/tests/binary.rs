//! The `kubesim serve` binary: kubeconfigs in the state directory, one ready line per
//! cluster, kubectl can use them, and SIGTERM ends it cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

#[test]
fn serve_writes_kubeconfigs_and_stops_on_sigterm() {
    common::require_definitions();
    let kubectl = common::kubectl_135();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut lines) = serve(
        dir.path(),
        &[
            "--names",
            "alpha,beta",
            "--kubernetes-version",
            "v1.34.1",
            "--pod-behavior",
            "fail",
            "--pod-delay",
            "50ms",
        ],
    );
    for name in ["alpha", "beta"] {
        let line = lines.next().expect("a ready line").unwrap();
        assert!(
            line.starts_with(&format!("cluster {name} ready at https://127.0.0.1:")),
            "{line}"
        );
    }
    let out = kubectl_in(&kubectl, dir.path(), "beta", &["version", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.34.1");
    // Pods behave as --pod-behavior says: this one fails instead of succeeding.
    let pod = dir.path().join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: once\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n",
    )
    .unwrap();
    for args in [
        vec!["create", "-f", pod.to_str().unwrap()],
        vec![
            "wait",
            "--for=jsonpath={.status.phase}=Failed",
            "pod/once",
            "--timeout=30s",
        ],
    ] {
        let out = kubectl_in(&kubectl, dir.path(), "beta", &args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "kubesim exited with {exit}");
}

/// Starts `kubesim serve ARGS` with its state in `state_dir`; the process and the lines it
/// prints.
fn serve(state_dir: &Path, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .arg("serve")
        .args(args)
        .arg("--state-dir")
        .arg(state_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Runs kubectl against `cluster` of the `kubesim serve` whose state directory is
/// `state_dir` (its kubeconfig, and a home and cache of its own there).
fn kubectl_in(kubectl: &Path, state_dir: &Path, cluster: &str, args: &[&str]) -> Output {
    Command::new(kubectl)
        .args(args)
        .env(
            "KUBECONFIG",
            state_dir.join(format!("{cluster}.kubeconfig")),
        )
        .env("HOME", state_dir)
        .env("KUBECACHEDIR", state_dir.join("cache"))
        .output()
        .unwrap()
}

/// One HTTP/1.1 request to the admin endpoint; the status code.
fn admin_post(addr: &str, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn serve_admin_endpoint_stops_and_restarts_a_cluster() {
    common::require_definitions();
    let kubectl = common::kubectl_135();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut lines) = serve(dir.path(), &["--names", "alpha", "--admin-port", "0"]);
    let ready = lines.next().unwrap().unwrap();
    assert!(ready.starts_with("cluster alpha ready"), "{ready}");
    let admin = lines.next().unwrap().unwrap();
    let addr = admin
        .strip_prefix("admin ready at http://")
        .unwrap_or_else(|| panic!("{admin}"))
        .to_string();
    let version = || {
        kubectl_in(
            &kubectl,
            dir.path(),
            "alpha",
            &["version", "-o", "json", "--request-timeout=5s"],
        )
    };
    assert!(version().status.success());
    assert_eq!(admin_post(&addr, "/clusters/alpha/stop"), 200);
    let out = version();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("was refused"));
    assert_eq!(admin_post(&addr, "/clusters/alpha/restart"), 200);
    assert!(version().status.success());
    assert_eq!(admin_post(&addr, "/clusters/nope/stop"), 404);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}
