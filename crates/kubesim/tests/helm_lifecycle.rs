//! The Helm 4 scenarios of kubesim.md with the real `helm` binary and the chart in
//! `tests/charts/web` (Deployment, Service, ConfigMaps, a Widget of the chart's own CRD, a
//! pre-install/post-upgrade hook Job, a test pod): install with `--wait`, status, the
//! release Secret, hooks run and deleted, `test --logs`, upgrade deleting a removed
//! template, rollback, `list -A`, `history`, `uninstall --wait`; and the failures: a stuck
//! Deployment timing out `--wait`, a failing test pod, a failing hook.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;
mod helm_common;

use common::{Kubectl, each_client};
use helm_common::{chart, fails, ok};
use kubesim::ClusterHandle;
use std::time::{Duration, Instant};

/// How many requests of `method` to a path ending in `suffix` were answered with `status`.
fn requests(c: &ClusterHandle, method: &str, suffix: &str, status: u16) -> usize {
    c.request_log()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix) && r.status == status)
        .count()
}

fn json(k: &Kubectl, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&k.ok(&all)).unwrap()
}

/// Runs `kubectl args` until its stdout is `want` (20 s at most).
fn until_output(k: &Kubectl, args: &[&str], want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = k.ok(args);
        if out == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl {args:?} still says\n{out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_test_upgrade_rollback_uninstall() {
    each_client(async |k: &Kubectl, c| {
        let chart = chart("web");
        let out = ok(
            k,
            &[
                "install",
                "web",
                &chart,
                "-n",
                "app",
                "--create-namespace",
                "--wait",
                "--timeout=60s",
            ],
        );
        assert!(out.contains("STATUS: deployed"), "{out}");
        // --wait returned only once the Deployment was available.
        let d = json(k, &["get", "deploy", "web", "-n", "app"]);
        assert_eq!(d["status"]["availableReplicas"], 2, "{d}");
        // The chart's CRD went first: the Widget of that kind exists.
        assert_eq!(
            json(k, &["get", "widget", "web", "-n", "app"])["spec"]["size"],
            3
        );
        // The pre-install hook Job was created (server-side apply), ran, and was deleted
        // (hook-succeeded).
        assert_eq!(
            requests(c, "PATCH", "/namespaces/app/jobs/web-migrate", 201),
            1
        );
        assert_eq!(
            requests(c, "DELETE", "/namespaces/app/jobs/web-migrate", 200),
            1
        );
        assert_eq!(k.ok(&["get", "jobs", "-n", "app", "-o", "name"]), "");

        let secret = json(
            k,
            &["get", "secret", "sh.helm.release.v1.web.v1", "-n", "app"],
        );
        assert_eq!(secret["type"], "helm.sh/release.v1");
        let labels = &secret["metadata"]["labels"];
        assert_eq!(
            (
                &labels["owner"],
                &labels["name"],
                &labels["status"],
                &labels["version"]
            ),
            (
                &"helm".into(),
                &"web".into(),
                &"deployed".into(),
                &"1".into()
            )
        );
        let status = ok(k, &["status", "web", "-n", "app"]);
        assert!(
            status.contains("STATUS: deployed") && status.contains("REVISION: 1"),
            "{status}"
        );

        let out = ok(k, &["test", "web", "-n", "app", "--logs"]);
        assert!(out.contains("Phase:          Succeeded"), "{out}");
        assert!(
            out.contains("HTTP/1.1 200 OK"),
            "the test pod's log is shown: {out}"
        );

        // Upgrade without the extra template: revision 2 deletes it and runs the
        // post-upgrade hook.
        let out = ok(
            k,
            &[
                "upgrade",
                "web",
                &chart,
                "-n",
                "app",
                "--set",
                "extra=false",
                "--wait",
                "--timeout=60s",
            ],
        );
        assert!(out.contains("REVISION: 2"), "{out}");
        let err = k.fails(&["get", "cm", "web-extra", "-n", "app"]);
        assert!(err.contains("not found"), "{err}");
        assert_eq!(
            requests(c, "PATCH", "/namespaces/app/jobs/web-migrate", 201),
            2
        );
        assert_eq!(
            requests(c, "DELETE", "/namespaces/app/jobs/web-migrate", 200),
            2
        );
        assert_eq!(
            k.ok(&[
                "get",
                "cm",
                "web-config",
                "-n",
                "app",
                "-o",
                "jsonpath={.data.revision}"
            ]),
            "2"
        );

        let out = ok(
            k,
            &[
                "rollback",
                "web",
                "1",
                "-n",
                "app",
                "--wait",
                "--timeout=60s",
            ],
        );
        assert!(out.contains("Rollback was a success"), "{out}");
        assert_eq!(
            k.ok(&[
                "get",
                "cm",
                "web-extra",
                "-n",
                "app",
                "-o",
                "jsonpath={.data.present}"
            ]),
            "yes"
        );
        let history = ok(k, &["history", "web", "-n", "app"]);
        let rows: Vec<Vec<&str>> = history
            .lines()
            .skip(1)
            .map(|l| l.split('\t').map(str::trim).collect())
            .collect();
        assert_eq!(rows.len(), 3, "{history}");
        assert_eq!((rows[0][0], rows[0][2]), ("1", "superseded"), "{history}");
        assert_eq!((rows[1][0], rows[1][2]), ("2", "superseded"), "{history}");
        assert_eq!((rows[2][0], rows[2][2]), ("3", "deployed"), "{history}");
        assert!(history.contains("Rollback to 1"), "{history}");
        let list = ok(k, &["list", "-A"]);
        let row: Vec<&str> = list
            .lines()
            .find(|l| l.starts_with("web"))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!((row[1], row[2]), ("app", "3"), "{list}");
        assert!(row.contains(&"deployed"), "{list}");

        let out = ok(
            k,
            &["uninstall", "web", "-n", "app", "--wait", "--timeout=60s"],
        );
        assert!(out.contains("release \"web\" uninstalled"), "{out}");
        assert_eq!(
            k.ok(&[
                "get",
                "secrets,deploy,svc,cm,widgets",
                "-n",
                "app",
                "-o",
                "name"
            ]),
            ""
        );
        // The Deployment's ReplicaSet and pods are collected after it; the test pod, a
        // hook, is not part of the release and stays, as with a real cluster.
        until_output(
            k,
            &["get", "rs,pods", "-n", "app", "-o", "name"],
            "pod/web-test\n",
        );
        assert_eq!(ok(k, &["list", "-A", "-q"]).trim(), "");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_deployment_failing_test_and_failing_hook() {
    each_client(async |k: &Kubectl, c| {
        let chart = chart("web");
        let out = fails(
            k,
            &[
                "install",
                "slow",
                &chart,
                "-n",
                "s",
                "--create-namespace",
                "--set",
                "behavior=stuck",
                "--wait",
                "--timeout=3s",
            ],
        );
        assert!(
            out.contains("context deadline exceeded") || out.contains("timed out"),
            "{out}"
        );
        let status = ok(k, &["status", "slow", "-n", "s"]);
        assert!(status.contains("STATUS: failed"), "{status}");
        let secret = json(
            k,
            &["get", "secret", "sh.helm.release.v1.slow.v1", "-n", "s"],
        );
        assert_eq!(secret["metadata"]["labels"]["status"], "failed");

        ok(
            k,
            &[
                "install",
                "flaky",
                &chart,
                "-n",
                "t",
                "--create-namespace",
                "--set",
                "testBehavior=fail",
                "--wait",
                "--timeout=60s",
            ],
        );
        let out = fails(k, &["test", "flaky", "-n", "t", "--logs"]);
        assert!(out.contains("Phase:          Failed"), "{out}");
        assert!(
            out.contains("connection refused"),
            "the failing pod's log is shown: {out}"
        );
        let phase = k.ok(&[
            "get",
            "pod",
            "flaky-test",
            "-n",
            "t",
            "-o",
            "jsonpath={.status.phase}",
        ]);
        assert_eq!(phase, "Failed");

        // A failing pre-install hook fails the install before any template is applied.
        let out = fails(
            k,
            &[
                "install",
                "broken",
                &chart,
                "-n",
                "h",
                "--create-namespace",
                "--set",
                "hookBehavior=fail",
                "--timeout=30s",
            ],
        );
        assert!(
            out.contains("pre-install") && out.contains("failed"),
            "{out}"
        );
        let err = k.fails(&["get", "deploy", "broken", "-n", "h"]);
        assert!(err.contains("not found"), "{err}");
        let job = json(k, &["get", "job", "broken-migrate", "-n", "h"]);
        let failed = job["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Failed" && c["status"] == "True");
        assert!(
            failed,
            "a failed hook Job stays (hook-succeeded only): {job}"
        );
        assert_eq!(
            requests(c, "DELETE", "/namespaces/h/jobs/broken-migrate", 200),
            0
        );
    })
    .await;
}
