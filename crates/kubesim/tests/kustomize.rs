//! `kubectl apply -k` of an overlay (a base, an overlay with a prefix, labels, a namespace,
//! an image override, a generated ConfigMap and a strategic merge patch), client-side and
//! server-side, with the real kubectl 1.35 and 1.37.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Kubectl, each_client};
use serde_json::Value;

const BASE_KUSTOMIZATION: &str = "resources:
- deployment.yaml
- service.yaml
configMapGenerator:
- name: web-config
  literals:
  - MODE=base
";

const BASE_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.26
        envFrom:
        - configMapRef: {name: web-config}
";

const BASE_SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
";

const OVERLAY_KUSTOMIZATION: &str = "resources:
- ../base
namespace: prod
namePrefix: prod-
labels:
- pairs: {team: shop}
images:
- name: nginx
  newTag: '1.27'
configMapGenerator:
- name: web-config
  behavior: merge
  literals:
  - MODE=prod
patches:
- path: replicas.yaml
";

const OVERLAY_PATCH: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
";

fn json(k: &Kubectl, args: &[&str]) -> Value {
    serde_json::from_str(&k.ok(args)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_k_of_an_overlay_creates_the_kustomized_objects() {
    each_client(async |k: &Kubectl, _c| {
        std::fs::create_dir_all(k.path().join("base")).unwrap();
        std::fs::create_dir_all(k.path().join("overlay")).unwrap();
        k.file("base/kustomization.yaml", BASE_KUSTOMIZATION);
        k.file("base/deployment.yaml", BASE_DEPLOYMENT);
        k.file("base/service.yaml", BASE_SERVICE);
        k.file("overlay/kustomization.yaml", OVERLAY_KUSTOMIZATION);
        k.file("overlay/replicas.yaml", OVERLAY_PATCH);
        k.ok(&["create", "namespace", "prod"]);

        let out = k.ok(&["apply", "-k", "overlay/", "--server-side"]);
        assert!(
            out.contains("deployment.apps/prod-web serverside-applied"),
            "{out}"
        );
        assert!(out.contains("service/prod-web serverside-applied"), "{out}");

        let d = json(
            k,
            &["get", "deploy", "prod-web", "-n", "prod", "-o", "json"],
        );
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["metadata"]["labels"]["team"], "shop");
        let container = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "nginx:1.27");
        // The generated ConfigMap's hashed name is what the Deployment refers to.
        let cm_name = container["envFrom"][0]["configMapRef"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(cm_name.starts_with("prod-web-config-"), "{cm_name}");
        let cm = json(k, &["get", "cm", &cm_name, "-n", "prod", "-o", "json"]);
        assert_eq!(cm["data"]["MODE"], "prod");
        let svc = json(k, &["get", "svc", "prod-web", "-n", "prod", "-o", "json"]);
        assert_eq!(svc["spec"]["selector"]["app"], "web");
        assert!(
            svc["spec"]["clusterIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10."))
        );

        // Unchanged: a server-side re-apply and diff find nothing to do (the simulated
        // controllers write status, so the resourceVersion is not compared).
        k.ok(&["apply", "-k", "overlay/", "--server-side"]);
        let again = json(
            k,
            &["get", "deploy", "prod-web", "-n", "prod", "-o", "json"],
        );
        assert_eq!(again["spec"]["replicas"], 3);
        let diff = k.run(&["diff", "-k", "overlay/", "--server-side"]);
        assert_eq!(
            diff.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&diff.stdout)
        );

        // Client-side apply -k of a changed overlay updates the live objects.
        k.file(
            "overlay/replicas.yaml",
            &OVERLAY_PATCH.replace("replicas: 3", "replicas: 5"),
        );
        k.ok(&["delete", "-k", "overlay/"]);
        let out = k.ok(&["apply", "-k", "overlay/"]);
        assert!(out.contains("deployment.apps/prod-web created"), "{out}");
        let d = json(
            k,
            &["get", "deploy", "prod-web", "-n", "prod", "-o", "json"],
        );
        assert_eq!(d["spec"]["replicas"], 5);
        assert!(
            d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .is_some_and(|a| a.contains("prod-web"))
        );
        let out = k.ok(&["apply", "-k", "overlay/"]);
        assert!(out.contains("deployment.apps/prod-web unchanged"), "{out}");
    })
    .await;
}
