//! Custom resources are validated against their CRD's schema as the real API server does:
//! Flotilla's own CRDs (`manifests/crds`) accept the examples of `manifests/examples` and
//! refuse bad objects with 422 Invalid and the real server's wording, through kubectl
//! (create, server-side apply, client-side apply) and raw requests (create, update, merge
//! patch, dry run, status subresource).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::Kubectl;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};
use std::path::PathBuf;

fn manifests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifests().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

/// Installs Flotilla's CRDs and the `fleet` namespace.
fn install(k: &Kubectl) {
    let crds = manifests().join("crds");
    k.ok(&["apply", "--server-side", "-f", crds.to_str().unwrap()]);
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd",
        "--all",
        "--timeout=20s",
    ]);
    k.ok(&["create", "namespace", "fleet"]);
}

const BAD: &str = "apiVersion: flotilla.dev/v1alpha1
kind: GitRepository
metadata:
  name: bad
  namespace: fleet
spec:
  interval: 5x
";

const BAD_URL: &str = "apiVersion: flotilla.dev/v1alpha1
kind: GitRepository
metadata:
  name: bad-url
  namespace: fleet
spec:
  url: ftp://example.com/repo
  interval: 1m
";

const TWO_ERRORS: &str = r#"[spec.url: Required value, spec.interval: Invalid value: "5x": spec.interval in body should match '^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$']"#;

const URL_ERROR: &str = r#"spec.url: Invalid value: "ftp://example.com/repo": spec.url in body should match '^(http|https|ssh)://.*$'"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_the_real_servers_validation_errors() {
    for bin in [common::kubectl_135(), common::kubectl_137()] {
        let fleet = common::start_one(true).await;
        let k = Kubectl::new(bin.clone(), &fleet.clusters()[0], true);
        eprintln!("== {}", bin.display());
        install(&k);

        for example in examples() {
            let out = k.ok(&["apply", "--server-side", "-f", example.to_str().unwrap()]);
            assert!(out.contains("serverside-applied"), "{out}");
        }
        let out = k.ok(&[
            "get",
            "gitrepositories,helmreleases",
            "-n",
            "fleet",
            "-o",
            "name",
        ]);
        assert!(
            out.contains("gitrepository.flotilla.dev/fleet-apps"),
            "{out}"
        );

        k.file("bad.yaml", BAD);
        // kubectl lists several causes one per line, as it does for the real server.
        let listed = "The GitRepository \"bad\" is invalid: \n* spec.url: Required value\n* spec.interval: Invalid value: \"5x\": spec.interval in body should match '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$'\n";
        let err = k.fails(&["apply", "--server-side", "-f", "bad.yaml"]);
        assert!(err.contains(listed), "{err}");
        let err = k.fails(&["create", "-f", "bad.yaml"]);
        assert!(err.contains(listed), "{err}");

        k.file("bad-url.yaml", BAD_URL);
        let err = k.fails(&["create", "-f", "bad-url.yaml"]);
        assert!(
            err.contains(&format!(
                "The GitRepository \"bad-url\" is invalid: {URL_ERROR}"
            )),
            "{err}"
        );
        let err = k.fails(&["create", "--dry-run=server", "-f", "bad-url.yaml"]);
        assert!(err.contains(URL_ERROR), "{err}");
        // Client-side apply of a new object creates it.
        let err = k.fails(&["apply", "-f", "bad-url.yaml"]);
        assert!(err.contains(URL_ERROR), "{err}");

        // An edit of a good object is validated too (a merge patch here).
        let err = k.fails(&[
            "patch",
            "gitrepository",
            "fleet-apps",
            "-n",
            "fleet",
            "--type=merge",
            "-p",
            r#"{"spec":{"ref":{"branch":""},"interval":"soon"}}"#,
        ]);
        assert!(
            err.contains("spec.interval: Invalid value: \"soon\""),
            "{err}"
        );
        let err = k.fails(&["get", "gitrepository", "bad", "-n", "fleet"]);
        assert!(err.contains("not found"), "{err}");
        fleet.shutdown().await;
    }
}

async fn client(cluster: &kubesim::ClusterHandle) -> Client {
    let kc = Kubeconfig::from_yaml(&cluster.kubeconfig()).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

async fn send(
    client: &Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: &Value,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let code = resp.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), 16 << 20)
        .await
        .unwrap();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

const GITREPOS: &str = "/apis/flotilla.dev/v1alpha1/namespaces/fleet/gitrepositories";
const JSON: &str = "application/json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_status_bodies_for_every_write() {
    let fleet = common::start_one(true).await;
    let k = Kubectl::new(common::kubectl_135(), &fleet.clusters()[0], true);
    install(&k);
    let c = client(&fleet.clusters()[0]).await;

    let bad = json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "GitRepository",
        "metadata": {"name": "bad", "namespace": "fleet"}, "spec": {"interval": "5x"}});
    for query in ["", "?dryRun=All"] {
        let (code, body) = send(&c, "POST", &format!("{GITREPOS}{query}"), JSON, &bad).await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(
            body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("GitRepository.flotilla.dev \"bad\" is invalid: {TWO_ERRORS}"),
                "reason": "Invalid",
                "details": {"name": "bad", "group": "flotilla.dev", "kind": "GitRepository",
                    "causes": [
                        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.url"},
                        {"reason": "FieldValueInvalid",
                         "message": r#"Invalid value: "5x": spec.interval in body should match '^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$'"#,
                         "field": "spec.interval"},
                    ]},
                "code": 422})
        );
    }

    let good = json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "GitRepository",
        "metadata": {"name": "good", "namespace": "fleet"},
        "spec": {"url": "https://example.com/r", "interval": "1m"}});
    let (code, created) = send(&c, "POST", GITREPOS, JSON, &good).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["spec"]["timeout"], "60s", "defaulted");
    let one = format!("{GITREPOS}/good");

    // Update (PUT) with a wrong type.
    let mut update = created.clone();
    update["spec"]["suspend"] = json!("yes");
    let (code, body) = send(&c, "PUT", &one, JSON, &update).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["reason"],
        "FieldValueTypeInvalid"
    );
    assert_eq!(
        body["message"],
        r#"GitRepository.flotilla.dev "good" is invalid: spec.suspend: Invalid value: "string": spec.suspend in body must be of type boolean: "string""#
    );

    // A merge patch removing a required field.
    let (code, body) = send(
        &c,
        "PATCH",
        &one,
        "application/merge-patch+json",
        &json!({"spec": {"url": null}}),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        r#"GitRepository.flotilla.dev "good" is invalid: spec.url: Required value"#
    );

    // Server-side apply with an enum value not listed.
    let (code, body) = send(
        &c,
        "PATCH",
        &format!("{one}?fieldManager=t"),
        "application/apply-patch+yaml",
        &json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "GitRepository",
            "metadata": {"name": "good", "namespace": "fleet"},
            "spec": {"url": "https://example.com/r", "interval": "1m",
                "verify": {"mode": "Always", "secretRef": {"name": "keys"}}}}),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["details"]["causes"][0],
        json!({"reason": "FieldValueNotSupported",
            "message": r#"Unsupported value: "Always": supported values: "HEAD", "Tag", "TagAndHEAD""#,
            "field": "spec.verify.mode"})
    );

    // The status subresource validates the status part, under `status.`.
    let (code, body) = send(
        &c,
        "PATCH",
        &format!("{one}/status"),
        "application/merge-patch+json",
        &json!({"status": {"observedGeneration": "one"}}),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["field"],
        "status.observedGeneration"
    );
    let (code, body) = send(
        &c,
        "PATCH",
        &format!("{one}/status"),
        "application/merge-patch+json",
        &json!({"status": {"observedGeneration": 1}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");

    // Nothing invalid was stored.
    let (_, live) = send(&c, "GET", &one, JSON, &Value::Null).await;
    assert_eq!(live["spec"]["url"], "https://example.com/r");
    assert!(
        live["spec"].get("suspend").is_none() && live["spec"].get("verify").is_none(),
        "{live}"
    );
    fleet.shutdown().await;
}
