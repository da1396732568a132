//! The kubectl conformance scenarios of kubesim.md that the HTTP layer covers, run with the
//! real kubectl 1.35 and 1.37 over HTTPS with the generated kubeconfigs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Kubectl, each_client};
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

const CM: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: c1
  labels:
    app: web
data:
  a: \"1\"
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_reports_the_configured_server_version() {
    each_client(async |k: &Kubectl, _c| {
        let out = k.ok(&["version", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["serverVersion"]["gitVersion"], "v1.35.2");
        assert_eq!(v["serverVersion"]["minor"], "35");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_resources_lists_builtins_without_complaint() {
    each_client(async |k: &Kubectl, c| {
        let out = k.run(&["api-resources", "-o", "wide"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.is_empty(), "stderr: {stderr}");
        let row = |name: &str| {
            stdout
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no {name} in\n{stdout}"))
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(row("configmaps")[1..4], ["cm", "v1", "true"]);
        assert_eq!(row("deployments")[1..4], ["deploy", "apps/v1", "true"]);
        assert_eq!(row("namespaces")[1..4], ["ns", "v1", "false"]);
        assert!(row("customresourcedefinitions").contains(&"apiextensions.k8s.io/v1"));
        // Aggregated discovery: two documents, no per-group-version fetches.
        let log = c.request_log();
        assert!(log.iter().any(|r| r.path == "/apis" && r.status == 200));
        assert!(!log.iter().any(|r| r.path == "/apis/apps/v1"), "{log:#?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_and_conflicts() {
    each_client(async |k: &Kubectl, _c| {
        k.file("cm.yaml", CM);
        assert!(
            k.ok(&["create", "-f", "cm.yaml"])
                .contains("configmap/c1 created")
        );
        let err = k.fails(&["create", "-f", "cm.yaml"]);
        assert!(err.contains("AlreadyExists"), "{err}");
        let got: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "cm", "c1", "-o", "json"])).unwrap();
        assert_eq!(got["data"]["a"], "1");
        assert_eq!(got["metadata"]["namespace"], "default");
        assert!(
            got["metadata"]["uid"]
                .as_str()
                .is_some_and(|u| u.len() == 36)
        );
        // Selectors reach the server.
        assert!(
            k.ok(&["get", "cm", "-l", "app=web", "-o", "name"])
                .contains("configmap/c1")
        );
        assert!(
            !k.ok(&["get", "cm", "-l", "app!=web", "-o", "name"])
                .contains("c1")
        );

        // A stale replace is refused with the optimistic-concurrency conflict.
        let stale = k.ok(&["get", "cm", "c1", "-o", "yaml"]);
        k.file("stale.yaml", &stale);
        k.ok(&["label", "cm", "c1", "x=y"]);
        let err = k.fails(&["replace", "-f", "stale.yaml"]);
        assert!(err.contains("the object has been modified"), "{err}");

        let err = k.fails(&["create", "-f", "cm.yaml", "-n", "zzz"]);
        assert!(err.contains("namespaces \"zzz\" not found"), "{err}");

        assert!(k.ok(&["delete", "cm", "c1"]).contains("deleted"));
        let err = k.fails(&["get", "cm", "c1"]);
        assert!(err.contains("configmaps \"c1\" not found"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_added_modified_deleted_in_order() {
    each_client(async |k: &Kubectl, _c| {
        k.file("cm.yaml", CM);
        let mut child = k
            .command(&["get", "cm", "-w", "--output-watch-events"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let expect = |event: &str| loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no {event} event"));
            if line.starts_with(event) {
                assert!(line.contains("c1"), "{line}");
                return;
            }
            assert!(
                line.starts_with("EVENT") || line.is_empty(),
                "unexpected line before {event}: {line}"
            );
        };
        // Give the watch time to start before creating, so ADDED arrives live.
        std::thread::sleep(Duration::from_millis(700));
        k.ok(&["create", "-f", "cm.yaml"]);
        expect("ADDED");
        k.ok(&["annotate", "cm", "c1", "note=changed"]);
        expect("MODIFIED");
        k.ok(&["delete", "cm", "c1"]);
        expect("DELETED");
        let _ = child.kill();
        let _ = child.wait();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_checked() {
    each_client(async |k: &Kubectl, c| {
        // kubectl words a 401 during discovery as "the server has asked for the client to
        // provide credentials" (and "Unauthorized" on older versions).
        let err = k.fails(&["get", "cm", "--token", "wrong"]);
        assert!(err.contains("You must be logged in to the server"), "{err}");
        // The Cluster API style client-certificate user works.
        let ctx = format!("{0}-admin@{0}", c.name());
        k.ok(&["get", "ns", "default", "--context", &ctx]);
        let log = c.request_log();
        assert!(log.iter().any(|r| r.status == 401), "{log:?}");
        assert!(
            log.iter()
                .any(|r| r.status == 200 && r.path == "/api/v1/namespaces/default"),
            "{log:?}"
        );
    })
    .await;
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1
        ports:
        - containerPort: 80
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_ownership_and_conflicts() {
    each_client(async |k: &Kubectl, c| {
        k.file("d.yaml", DEPLOYMENT);
        let out = k.ok(&["apply", "--server-side", "-f", "d.yaml"]);
        assert!(out.contains("serverside-applied"), "{out}");
        // The simulated controllers write the rollout's status; once it is complete the
        // Deployment stays put.
        let out = k.ok(&["rollout", "status", "deploy/web", "--timeout=30s"]);
        assert!(out.contains("successfully rolled out"), "{out}");
        let rv = |k: &Kubectl| {
            k.ok(&[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ])
        };
        let first = rv(k);
        let cluster_rv = c.resource_version();
        // An identical apply changes nothing: same resourceVersion, no store write.
        k.ok(&["apply", "--server-side", "-f", "d.yaml"]);
        assert_eq!(rv(k), first);
        assert_eq!(
            c.resource_version(),
            cluster_rv,
            "no write, so no watch event"
        );
        let got: serde_json::Value = serde_json::from_str(&k.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "json",
            "--show-managed-fields",
        ]))
        .unwrap();
        let managed = got["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(managed.len(), 1, "{managed:?}");
        assert_eq!(managed[0]["manager"], "kubectl");
        assert_eq!(managed[0]["operation"], "Apply");
        assert_eq!(managed[0]["fieldsType"], "FieldsV1");
        assert!(managed[0]["fieldsV1"]["f:spec"]["f:replicas"].is_object());

        // Another manager takes replicas; re-applying conflicts until forced.
        k.ok(&[
            "patch",
            "deploy",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":3}}"#,
            "--field-manager=hpa",
        ]);
        let err = k.fails(&["apply", "--server-side", "-f", "d.yaml"]);
        assert!(err.contains("conflict with \"hpa\""), "{err}");
        assert!(err.contains(".spec.replicas"), "{err}");
        k.ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "d.yaml",
        ]);
        let got: serde_json::Value = serde_json::from_str(&k.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "json",
            "--show-managed-fields",
        ]))
        .unwrap();
        assert_eq!(got["spec"]["replicas"], 1);
        for entry in got["metadata"]["managedFields"].as_array().unwrap() {
            if entry["manager"] == "hpa" {
                assert!(
                    entry["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
                    "hpa still owns replicas: {entry}"
                );
            }
        }
        let log = c.request_log();
        assert!(log.iter().any(|r| r.method == "PATCH"
            && r.content_type.as_deref() == Some("application/apply-patch+yaml")
            && r.field_manager.as_deref() == Some("kubectl")
            && r.status == 409));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_field_validation_rejects_unknown_fields() {
    each_client(async |k: &Kubectl, _c| {
        k.file(
            "bad.yaml",
            &DEPLOYMENT.replace("  replicas: 1\n", "  replicas: 1\n  foo: bar\n"),
        );
        let err = k.fails(&["create", "-f", "bad.yaml"]);
        assert!(err.contains("unknown field \"spec.foo\""), "{err}");
        let err = k.fails(&["apply", "--server-side", "-f", "bad.yaml"]);
        assert!(err.contains("unknown field \"spec.foo\""), "{err}");
        // The same manifest without the stray field is fine, and so is the replace of it.
        k.file("good.yaml", DEPLOYMENT);
        k.ok(&["create", "-f", "good.yaml"]);
        k.ok(&["rollout", "status", "deploy/web", "--timeout=30s"]);
        let live = k.ok(&["get", "deploy", "web", "-o", "yaml"]);
        k.file("live.yaml", &live);
        k.ok(&["replace", "-f", "live.yaml"]);
    })
    .await;
}

const SIDECAR: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: sidecar
        image: envoy:1
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_appliers_labels_and_diff() {
    each_client(async |k: &Kubectl, c| {
        let with_tier =
            DEPLOYMENT.replace("    app: web\nspec:", "    app: web\n    tier: a\nspec:");
        k.file("d.yaml", &with_tier);
        k.file("plain.yaml", DEPLOYMENT);
        k.file("sidecar.yaml", SIDECAR);
        let containers = |k: &Kubectl| {
            k.ok(&[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.template.spec.containers[*].name}",
            ])
        };
        k.ok(&["apply", "--server-side", "-f", "d.yaml"]);
        k.ok(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            "sidecar.yaml",
        ]);
        assert_eq!(containers(k), "web sidecar");
        k.ok(&["apply", "--server-side", "-f", "d.yaml"]);
        assert_eq!(
            containers(k),
            "web sidecar",
            "re-applying keeps the other's container"
        );

        // A label the applier drops disappears; one set by `kubectl label` survives.
        k.ok(&["label", "deploy", "web", "manual=yes"]);
        k.ok(&["apply", "--server-side", "-f", "plain.yaml"]);
        let labels: serde_json::Value = serde_json::from_str(&k.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.labels}",
        ]))
        .unwrap();
        assert_eq!(labels, serde_json::json!({"app": "web", "manual": "yes"}));

        // diff --server-side: nothing to show when unchanged, exit 1 and only the changed
        // line after an edit; the live object is untouched either way.
        let rv = c.resource_version();
        let same = k.run(&["diff", "--server-side", "-f", "plain.yaml"]);
        assert_eq!(
            same.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&same.stdout)
        );
        assert!(same.stdout.is_empty());
        k.file("edited.yaml", &DEPLOYMENT.replace("nginx:1", "nginx:2"));
        let changed = k.run(&["diff", "--server-side", "-f", "edited.yaml"]);
        assert_eq!(changed.status.code(), Some(1));
        let out = String::from_utf8_lossy(&changed.stdout);
        assert!(out.contains("-      - image: nginx:1"), "{out}");
        assert!(out.contains("+      - image: nginx:2"), "{out}");
        assert_eq!(c.resource_version(), rv, "diff is a dry run");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_apply_and_diff() {
    each_client(async |k: &Kubectl, _c| {
        k.file("cm.yaml", CM);
        assert!(
            k.ok(&["apply", "-f", "cm.yaml"])
                .contains("configmap/c1 created")
        );
        let got: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "cm", "c1", "-o", "json"])).unwrap();
        assert!(
            got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .is_string()
        );
        let same = k.run(&["diff", "-f", "cm.yaml"]);
        assert_eq!(
            same.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&same.stdout)
        );
        k.file("cm2.yaml", &CM.replace("a: \"1\"", "a: \"2\""));
        let changed = k.run(&["diff", "-f", "cm2.yaml"]);
        assert_eq!(changed.status.code(), Some(1));
        let out = String::from_utf8_lossy(&changed.stdout);
        assert!(out.contains("+  a: \"2\""), "{out}");
        assert!(k.ok(&["apply", "-f", "cm2.yaml"]).contains("configured"));
        assert_eq!(k.ok(&["get", "cm", "c1", "-o", "jsonpath={.data.a}"]), "2");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_apply_strategic_merge_keeps_other_clients_container() {
    each_client(async |k: &Kubectl, c| {
        k.file("d.yaml", DEPLOYMENT);
        assert!(k.ok(&["apply", "-f", "d.yaml"]).contains("created"));
        // Another client adds a container by strategic merge: merged by name, not replaced.
        k.ok(&[
            "patch",
            "deploy",
            "web",
            "--type=strategic",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"busybox:1"}]}}}}"#,
        ]);
        let containers = |k: &Kubectl| {
            let d = get_json(k, &["deploy", "web"]);
            let mut cs: Vec<(String, String)> = d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap().to_string(),
                        c["image"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            cs.sort();
            (d, cs)
        };
        let pair = |n: &str, i: &str| (n.to_string(), i.to_string());
        assert_eq!(
            containers(k).1,
            [pair("b", "busybox:1"), pair("web", "nginx:1")]
        );

        // Client-side apply of an image change: a strategic merge patch with
        // $setElementOrder; the other client's container stays, only the image changes.
        k.file("d2.yaml", &DEPLOYMENT.replace("nginx:1", "nginx:2"));
        assert!(k.ok(&["apply", "-f", "d2.yaml"]).contains("configured"));
        let patches: Vec<_> = c
            .request_log()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .collect();
        assert!(
            patches.iter().all(
                |r| r.content_type.as_deref() == Some("application/strategic-merge-patch+json")
            ),
            "{patches:?}"
        );
        let (d, cs) = containers(k);
        assert_eq!(cs, [pair("b", "busybox:1"), pair("web", "nginx:2")]);
        let web = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "web")
            .unwrap();
        assert_eq!(web["ports"].as_array().map(Vec::len), Some(1));
        assert_eq!(web["ports"][0]["containerPort"], 80);
        let last: serde_json::Value = serde_json::from_str(
            d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            last["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        assert!(
            !d["spec"]["template"]["spec"]
                .to_string()
                .contains("$setElementOrder"),
            "directives are not stored"
        );

        // `$patch: delete` removes the other client's container.
        k.ok(&[
            "patch",
            "deploy",
            "web",
            "--type=strategic",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"b","$patch":"delete"}]}}}}"#,
        ]);
        assert_eq!(containers(k).1, [pair("web", "nginx:2")]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_namespace_leaves_nothing_behind() {
    each_client(async |k: &Kubectl, _c| {
        k.file(
            "ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t\n",
        );
        k.file("cm.yaml", CM);
        k.ok(&["create", "-f", "ns.yaml"]);
        k.ok(&["create", "-f", "cm.yaml", "-n", "t"]);
        let out = k.ok(&["delete", "ns", "t", "--timeout=20s"]);
        assert!(out.contains("deleted"), "{out}");
        let err = k.fails(&["get", "ns", "t"]);
        assert!(err.contains("namespaces \"t\" not found"), "{err}");
        let left = k.ok(&["get", "cm", "-A", "-o", "name"]);
        assert!(left.trim().is_empty(), "{left}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imperative_creates_send_protobuf() {
    each_client(async |k: &Kubectl, c| {
        k.ok(&["create", "namespace", "t"]);
        k.ok(&[
            "create",
            "configmap",
            "cfg",
            "-n",
            "t",
            "--from-literal=a=b",
        ]);
        k.ok(&[
            "create",
            "secret",
            "generic",
            "s1",
            "-n",
            "t",
            "--from-literal=pw=x",
        ]);
        k.ok(&["create", "serviceaccount", "bot", "-n", "t"]);
        assert_eq!(
            k.ok(&["get", "cm", "cfg", "-n", "t", "-o", "jsonpath={.data.a}"]),
            "b"
        );
        assert_eq!(
            k.ok(&[
                "get",
                "secret",
                "s1",
                "-n",
                "t",
                "-o",
                "jsonpath={.data.pw} {.type}"
            ]),
            "eA== Opaque"
        );
        let ns = k.ok(&["get", "ns", "t", "-o", "jsonpath={.status.phase}"]);
        assert_eq!(ns, "Active");
        let protobuf_posts = c
            .request_log()
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && r.status == 201
                    && r.content_type.as_deref() == Some("application/vnd.kubernetes.protobuf")
            })
            .count();
        assert_eq!(protobuf_posts, 4);
        // A service-account token authenticates against the cluster.
        let token = k.ok(&["create", "token", "bot", "-n", "t"]);
        k.ok(&["get", "ns", "t", "--token", token.trim()]);
        let err = k.fails(&["create", "token", "nobody", "-n", "t"]);
        assert!(
            err.contains("serviceaccounts \"nobody\" not found"),
            "{err}"
        );
    })
    .await;
}

/// `kubectl get KIND NAME -o json`, parsed.
fn get_json(k: &Kubectl, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&k.ok(&full)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imperative_creates_of_other_built_in_kinds_send_protobuf() {
    each_client(async |k: &Kubectl, c| {
        let out = k.ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "--port=8080",
        ]);
        assert!(out.contains("deployment.apps/web created"), "{out}");
        let d = get_json(k, &["deploy", "web"]);
        assert_eq!(d["spec"]["replicas"], 2);
        assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "web");
        assert_eq!(d["spec"]["template"]["metadata"]["labels"]["app"], "web");
        let container = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["name"], "nginx");
        assert_eq!(container["image"], "nginx:1.27");
        assert_eq!(container["ports"][0]["containerPort"], 8080);
        assert_eq!(container["resources"], serde_json::json!({}));
        assert!(d["metadata"].get("creationTimestamp").is_some());

        k.ok(&["create", "job", "once", "--image=busybox", "--", "echo", "hi"]);
        let j = get_json(k, &["job", "once"]);
        let container = &j["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "busybox");
        assert_eq!(container["command"], serde_json::json!(["echo", "hi"]));
        assert_eq!(j["spec"]["template"]["spec"]["restartPolicy"], "Never");

        k.ok(&["create", "role", "reader", "--verb=get", "--verb=list", "--resource=pods"]);
        let r = get_json(k, &["role", "reader"]);
        assert_eq!(
            r["rules"],
            serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}])
        );
        k.ok(&["create", "rolebinding", "read", "--role=reader", "--user=alice"]);
        let rb = get_json(k, &["rolebinding", "read"]);
        assert_eq!(rb["roleRef"]["kind"], "Role");
        assert_eq!(rb["roleRef"]["name"], "reader");
        assert_eq!(rb["subjects"][0]["name"], "alice");

        k.ok(&["create", "service", "clusterip", "s", "--tcp=80:8080"]);
        let svc = get_json(k, &["service", "s"]);
        assert_eq!(svc["spec"]["type"], "ClusterIP");
        assert_eq!(svc["spec"]["selector"]["app"], "s");
        let port = &svc["spec"]["ports"][0];
        assert_eq!(port["name"], "80-8080");
        assert_eq!(port["port"], 80);
        assert_eq!(port["protocol"], "TCP");
        // IntOrString as a number.
        assert_eq!(port["targetPort"], 8080);

        k.ok(&[
            "create",
            "cronjob",
            "tick",
            "--image=busybox",
            "--schedule=*/5 * * * *",
            "--",
            "date",
        ]);
        let cj = get_json(k, &["cronjob", "tick"]);
        assert_eq!(cj["spec"]["schedule"], "*/5 * * * *");
        let pod = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["command"], serde_json::json!(["date"]));
        assert_eq!(pod["restartPolicy"], "OnFailure");

        k.ok(&[
            "create",
            "priorityclass",
            "high",
            "--value=1000",
            "--description=important",
            "--global-default=false",
        ]);
        let pc = get_json(k, &["priorityclass", "high"]);
        assert_eq!(pc["value"], 1000);
        assert_eq!(pc["description"], "important");
        assert_eq!(pc["globalDefault"], false);
        assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");

        k.ok(&["create", "poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=50%"]);
        let pdb = get_json(k, &["pdb", "pdb"]);
        // IntOrString as a string.
        assert_eq!(pdb["spec"]["minAvailable"], "50%");
        assert_eq!(pdb["spec"]["selector"]["matchLabels"]["app"], "web");

        k.ok(&["create", "quota", "q", "--hard=pods=10,requests.cpu=500m"]);
        let q = get_json(k, &["quota", "q"]);
        // Quantities as strings.
        assert_eq!(q["spec"]["hard"], serde_json::json!({"pods": "10", "requests.cpu": "500m"}));

        k.ok(&["create", "ingress", "ing", "--rule=foo.com/bar=svc1:8080"]);
        let ing = get_json(k, &["ingress", "ing"]);
        let rule = &ing["spec"]["rules"][0];
        assert_eq!(rule["host"], "foo.com");
        // IngressRuleValue is inlined into the rule.
        let path = &rule["http"]["paths"][0];
        assert_eq!(path["path"], "/bar");
        assert_eq!(path["pathType"], "Exact");
        assert_eq!(path["backend"]["service"]["name"], "svc1");
        assert_eq!(path["backend"]["service"]["port"]["number"], 8080);

        let protobuf_posts = c
            .request_log()
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && r.status == 201
                    && r.content_type.as_deref() == Some("application/vnd.kubernetes.protobuf")
            })
            .count();
        assert_eq!(protobuf_posts, 10);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_subresource() {
    each_client(async |k: &Kubectl, c| {
        k.file("d.yaml", DEPLOYMENT);
        k.ok(&["apply", "--server-side", "-f", "d.yaml"]);
        k.ok(&["scale", "deploy", "web", "--replicas=3"]);
        assert_eq!(
            k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
            "3"
        );
        let scale: serde_json::Value = serde_json::from_str(&k.ok(&[
            "get",
            "--raw",
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
        ]))
        .unwrap();
        assert_eq!(scale["kind"], "Scale");
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(scale["status"]["selector"], "app=web");
        assert!(c.request_log().iter().any(|r| r.method == "PATCH"
            && r.path.ends_with("/deployments/web/scale")
            && r.status == 200));
        // The applier no longer owns replicas alone: re-applying 1 conflicts.
        let err = k.fails(&["apply", "--server-side", "-f", "d.yaml"]);
        assert!(err.contains("conflict"), "{err}");
    })
    .await;
}
