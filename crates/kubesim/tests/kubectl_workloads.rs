//! The kubectl scenarios of kubesim.md that need the simulated controllers and the garbage
//! collector, with the real kubectl 1.35 and 1.37 over HTTPS: `wait`, `rollout status`,
//! `delete` with each cascade mode, finalizers holding a deletion, and `logs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Kubectl, each_client};
use std::time::{Duration, Instant};

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    kubesim.flotilla.dev/log.app: |
      starting
      listening on :8080
spec:
  containers:
  - name: app
    image: app:1
  - name: proxy
    image: envoy:1
";

fn deployment(name: &str, behavior: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  annotations:
    kubesim.flotilla.dev/behavior: {behavior}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"
    )
}

/// Runs `kubectl args` until its stdout satisfies `ok` (20 s at most).
fn until_output(k: &Kubectl, args: &[&str], what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = k.ok(args);
        if ok(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: kubectl {args:?} still says\n{out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_ready_and_logs() {
    each_client(async |k: &Kubectl, _c| {
        k.file("pod.yaml", POD);
        k.ok(&["create", "-f", "pod.yaml"]);
        let out = k.ok(&["wait", "--for=condition=Ready", "pod/p", "--timeout=30s"]);
        assert_eq!(out.trim(), "pod/p condition met");
        let phase = k.ok(&["get", "pod", "p", "-o", "jsonpath={.status.phase}"]);
        assert_eq!(phase, "Running");

        assert_eq!(
            k.ok(&["logs", "p", "-c", "app"]),
            "starting\nlistening on :8080\n"
        );
        assert_eq!(
            k.ok(&["logs", "p", "-c", "app", "--tail=1"]),
            "listening on :8080\n"
        );
        // Without -c kubectl picks the first container and says so.
        let out = k.run(&["logs", "p"]);
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "starting\nlistening on :8080\n"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("Defaulted container \"app\""));
        let err = k.fails(&["logs", "p", "-c", "nope"]);
        assert!(
            err.contains("container nope is not valid for pod p"),
            "{err}"
        );
        let proxy = k.ok(&["logs", "p", "-c", "proxy"]);
        assert_eq!(proxy, "kubesim: container proxy of pod default/p started\n");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_status_succeeds_or_times_out_when_stuck() {
    each_client(async |k: &Kubectl, _c| {
        k.file("web.yaml", &deployment("web", "healthy"));
        k.file("slow.yaml", &deployment("slow", "stuck"));
        k.ok(&["apply", "-f", "web.yaml", "-f", "slow.yaml"]);
        let out = k.ok(&["rollout", "status", "deploy/web", "--timeout=30s"]);
        assert!(
            out.contains("deployment \"web\" successfully rolled out"),
            "{out}"
        );
        let ready = k.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ]);
        assert_eq!(ready, "2");
        let err = k.fails(&["rollout", "status", "deploy/slow", "--timeout=2s"]);
        assert!(err.contains("timed out waiting for the condition"), "{err}");
        let pods = k.ok(&[
            "get",
            "pods",
            "-l",
            "app=slow",
            "-o",
            "jsonpath={.items[*].status.phase}",
        ]);
        assert_eq!(pods, "Pending Pending");

        // A new image rolls out a second ReplicaSet; the history shows both revisions.
        k.ok(&["set", "image", "deploy/web", "web=nginx:1.28"]);
        let out = k.ok(&["rollout", "status", "deploy/web", "--timeout=30s"]);
        assert!(out.contains("successfully rolled out"), "{out}");
        let history = k.ok(&["rollout", "history", "deploy/web"]);
        assert!(
            history.contains("1 ") && history.contains("2 "),
            "{history}"
        );
        let images = k.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ]);
        assert_eq!(images, "nginx:1.28 nginx:1.28");
        k.ok(&["rollout", "undo", "deploy/web"]);
        k.ok(&["rollout", "status", "deploy/web", "--timeout=30s"]);
        until_output(
            k,
            &[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={.items[*].spec.containers[0].image}",
            ],
            "pods back on nginx:1.27",
            |o| o == "nginx:1.27 nginx:1.27",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cascades_and_finalizers() {
    each_client(async |k: &Kubectl, _c| {
        for name in ["bg", "fg", "orph"] {
            k.file(&format!("{name}.yaml"), &deployment(name, "healthy"));
            k.ok(&["apply", "-f", &format!("{name}.yaml")]);
        }
        for name in ["bg", "fg", "orph"] {
            k.ok(&["rollout", "status", &format!("deploy/{name}"), "--timeout=30s"]);
        }
        let dependents = |app: &str| {
            k.ok(&["get", "rs,pods", "-l", &format!("app={app}"), "-o", "name"])
        };
        assert_eq!(dependents("bg").lines().count(), 3, "one ReplicaSet, two pods");

        let out = k.ok(&["delete", "deploy", "bg"]);
        assert!(out.contains("deployment.apps \"bg\" deleted"), "{out}");
        until_output(k, &["get", "rs,pods", "-l", "app=bg", "-o", "name"], "bg collected", str::is_empty);

        // Foreground: kubectl returns once the Deployment is gone, which is after its
        // ReplicaSet and pods.
        k.ok(&["delete", "deploy", "fg", "--cascade=foreground"]);
        assert_eq!(dependents("fg"), "");

        k.ok(&["delete", "deploy", "orph", "--cascade=orphan"]);
        let left = dependents("orph");
        assert_eq!(left.lines().count(), 3, "{left}");
        let owners = k.ok(&["get", "rs", "-l", "app=orph", "-o", "jsonpath={.items[*].metadata.ownerReferences}"]);
        assert_eq!(owners, "", "the orphaned ReplicaSet has no owner");

        // A finalizer holds the deletion until it is removed.
        k.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n");
        k.ok(&["create", "-f", "cm.yaml"]);
        k.ok(&["delete", "cm", "held", "--wait=false"]);
        let ts = k.ok(&["get", "cm", "held", "-o", "jsonpath={.metadata.deletionTimestamp}"]);
        assert!(!ts.is_empty(), "terminating");
        let err = k.fails(&["wait", "--for=delete", "cm/held", "--timeout=1s"]);
        assert!(err.contains("timed out"), "{err}");
        k.ok(&["patch", "cm", "held", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
        k.ok(&["wait", "--for=delete", "cm/held", "--timeout=30s"]);
        let err = k.fails(&["get", "cm", "held"]);
        assert!(err.contains("not found"), "{err}");

        // Deleting a namespace removes its workloads.
        k.ok(&["create", "ns", "t"]);
        k.ok(&["apply", "-n", "t", "-f", "bg.yaml"]);
        k.ok(&["rollout", "status", "-n", "t", "deploy/bg", "--timeout=30s"]);
        k.ok(&["delete", "ns", "t", "--timeout=30s"]);
        let err = k.fails(&["get", "ns", "t"]);
        assert!(err.contains("not found"), "{err}");
        let left = k.ok(&["get", "deploy,rs,pods", "-n", "t", "-o", "name"]);
        assert_eq!(left, "");
    })
    .await;
}
