//! Bad requests get the real server's status code and a `Status` body, and the patch
//! flavours behave: kube-rs' apply conflicts (409 FieldManagerConflict), JSON patch `test`
//! failures (422), merge patches, and malformed, mistyped or oversized bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

async fn client(cluster: &kubesim::ClusterHandle) -> Client {
    let kc = Kubeconfig::from_yaml(&cluster.kubeconfig()).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// Sends a raw request; returns the status code and the JSON body.
async fn raw(
    client: &Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let code = resp.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), 16 << 20)
        .await
        .unwrap();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn assert_status(body: &Value, code: u16, reason: &str) {
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_mistyped_requests() {
    let fleet = common::start_one(true).await;
    let c = client(&fleet.clusters()[0]).await;
    let (code, body) = raw(&c, "POST", CMS, "application/json", b"{not json".to_vec()).await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
    let (code, body) = raw(&c, "POST", CMS, "text/plain", b"{}".to_vec()).await;
    assert_eq!(code, 415);
    assert_status(&body, 415, "UnsupportedMediaType");
    let (code, body) = raw(
        &c,
        "GET",
        "/api/v1/namespaces/default/widgets",
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(code, 404);
    assert_status(&body, 404, "NotFound");
    let big = format!(
        r#"{{"metadata":{{"name":"big"}},"data":{{"k":"{}"}}}}"#,
        "x".repeat(4 << 20)
    );
    let (code, body) = raw(&c, "POST", CMS, "application/json", big.into_bytes()).await;
    assert_eq!(code, 413);
    assert_status(&body, 413, "RequestEntityTooLarge");
    let (code, body) = raw(
        &c,
        "PUT",
        "/api/v1/namespaces",
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(code, 405);
    assert_status(&body, 405, "MethodNotAllowed");
    // Names must be RFC 1123 subdomains.
    let (code, body) = raw(
        &c,
        "POST",
        CMS,
        "application/json",
        serde_json::to_vec(&json!({"metadata": {"name": "Bad_Name"}})).unwrap(),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_status(&body, 422, "Invalid");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
        "{message}"
    );
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");
    // generateName gets a suffix.
    let (code, body) = raw(
        &c,
        "POST",
        CMS,
        "application/json",
        serde_json::to_vec(&json!({"metadata": {"generateName": "gen-"}})).unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let name = body["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_and_apply_conflicts() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let c = client(cluster).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "p"}, "data": {"a": "1"}})).unwrap(),
    )
    .await
    .unwrap();

    // Merge patch, then a no-op merge patch that keeps the resourceVersion.
    let pp = PatchParams::default();
    let patched = cms
        .patch("p", &pp, &Patch::Merge(json!({"data": {"b": "2"}})))
        .await
        .unwrap();
    assert_eq!(patched.data.as_ref().unwrap().len(), 2);
    let again = cms
        .patch("p", &pp, &Patch::Merge(json!({"data": {"b": "2"}})))
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        patched.metadata.resource_version
    );

    // JSON patch: a failed test is 422; a passing one applies.
    let failing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/a", "value": "nope"},
        {"op": "remove", "path": "/data/a"},
    ]))
    .unwrap();
    match cms.patch("p", &pp, &Patch::<()>::Json(failing)).await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (422, "Invalid")),
        other => panic!("expected 422, got {other:?}"),
    }
    let passing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "remove", "path": "/data/a"},
    ]))
    .unwrap();
    let removed = cms
        .patch("p", &pp, &Patch::<()>::Json(passing))
        .await
        .unwrap();
    assert!(!removed.data.unwrap().contains_key("a"));

    // kube-runtime's finalizer helper: `test` of null on a missing member passes (as in
    // the API server's JSON patch library), so the finalizer gets added exactly once.
    let add_finalizer: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/cleanup"]},
    ]))
    .unwrap();
    let with = cms
        .patch("p", &pp, &Patch::<()>::Json(add_finalizer.clone()))
        .await
        .unwrap();
    assert_eq!(
        with.metadata.finalizers,
        Some(vec!["example.com/cleanup".to_string()])
    );
    match cms.patch("p", &pp, &Patch::<()>::Json(add_finalizer)).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 422),
        other => panic!("expected 422, got {other:?}"),
    }
    let remove: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "example.com/cleanup"},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]))
    .unwrap();
    cms.patch("p", &pp, &Patch::<()>::Json(remove))
        .await
        .unwrap();

    // Non-apply patch of a missing object: 404.
    match cms
        .patch("missing", &pp, &Patch::Merge(json!({"data": {}})))
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 404),
        other => panic!("expected 404, got {other:?}"),
    }

    // Apply without a field manager is refused; with one it creates.
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "default");
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
    });
    let (code, body) = raw(
        &c,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/d",
        "application/apply-patch+yaml",
        serde_json::to_vec(&d).unwrap(),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    let created = deploys
        .patch("d", &PatchParams::apply("flotilla"), &Patch::Apply(&d))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));

    // A second applier that disagrees on replicas conflicts.
    let mut other = d.clone();
    other["spec"]["replicas"] = json!(5);
    match deploys
        .patch("d", &PatchParams::apply("other"), &Patch::Apply(&other))
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert!(
                s.message.contains("conflict with \"flotilla\""),
                "{}",
                s.message
            );
            let details = s.details.expect("details");
            assert_eq!(details.causes[0].reason, "FieldManagerConflict");
            assert_eq!(details.causes[0].field, ".spec.replicas");
        }
        other => panic!("expected 409, got {other:?}"),
    }
    // A resourceVersion in an applied configuration is a precondition.
    let mut stale = d.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    match deploys
        .patch("d", &PatchParams::apply("flotilla"), &Patch::Apply(&stale))
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
        other => panic!("expected 409, got {other:?}"),
    }
    let forced = deploys
        .patch(
            "d",
            &PatchParams::apply("other").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.unwrap().replicas, Some(5));
    assert_eq!(
        forced.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );
}
