//! The Bucket reconciler against a kubesim management cluster and a real S3-compatible
//! server (`moto_server`, authentication enforced), credentials from a Secret.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Hub, NS, eventually};
use flotilla_api::Bucket;
use flotilla_api::conditions;
use flotilla_testkit::s3::S3Server;
use kube::api::PostParams;

fn bucket(name: &str, endpoint: &str, secret: &str) -> Bucket {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "Bucket",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "bucketName": "fleet", "endpoint": endpoint, "insecure": true,
            "prefix": "apps/", "interval": "1m", "timeout": "20s",
            "secretRef": {"name": secret},
        },
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_becomes_ready_and_wrong_keys_fail() -> anyhow::Result<()> {
    let Some(server) = S3Server::start_or_skip().await? else {
        return Ok(());
    };
    server.create_bucket("fleet").await?;
    server
        .put("fleet", "apps/web.yaml", "kind: Deployment\n")
        .await?;
    server
        .put("fleet", "infra/ns.yaml", "kind: Namespace\n")
        .await?;
    let hub = Hub::start().await?;
    hub.secret(
        "s3",
        &[
            ("accesskey", server.access_key_id()),
            ("secretkey", server.secret_access_key()),
        ],
    )
    .await?;
    hub.secret(
        "s3-wrong",
        &[
            ("accesskey", server.access_key_id()),
            ("secretkey", "wrong-secret-key"),
        ],
    )
    .await?;
    let api = hub.api::<Bucket>();
    api.create(
        &PostParams::default(),
        &bucket("apps", &server.host(), "s3"),
    )
    .await?;
    api.create(
        &PostParams::default(),
        &bucket("denied", &server.host(), "s3-wrong"),
    )
    .await?;

    let ready = eventually("the bucket to be Ready", || async {
        let b = api.get("apps").await?;
        let status = b.status.clone().unwrap_or_default();
        Ok(conditions::is_ready(&status.conditions, b.metadata.generation).then_some(status))
    })
    .await?;
    let artifact = ready.artifact.unwrap();
    assert!(
        artifact.revision.starts_with("sha256:"),
        "{}",
        artifact.revision
    );
    let dir = hub.sources.store().root().join(&artifact.path);
    assert_eq!(
        std::fs::read_to_string(dir.join("apps/web.yaml"))?,
        "kind: Deployment\n"
    );
    assert!(!dir.join("infra").exists());

    let failed = eventually("the denied bucket to fail", || async {
        let b = api.get("denied").await?;
        let conditions = b.status.map(|s| s.conditions).unwrap_or_default();
        Ok(conditions::find(&conditions, conditions::READY)
            .filter(|c| c.status == "False")
            .cloned())
    })
    .await?;
    assert_eq!(failed.reason, "AuthenticationFailed");
    assert!(
        failed.message.starts_with(&format!("Bucket {NS}/denied: ")),
        "{}",
        failed.message
    );
    assert!(
        !failed.message.contains("wrong-secret-key"),
        "{}",
        failed.message
    );
    hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_provider_is_stalled_with_invalid_spec() -> anyhow::Result<()> {
    let hub = Hub::start().await?;
    let mut gcs = bucket("gcs", "storage.googleapis.com", "none");
    gcs.spec.provider = flotilla_api::source::BucketProvider::Gcp;
    gcs.spec.secret_ref = None;
    let api = hub.api::<Bucket>();
    api.create(&PostParams::default(), &gcs).await?;
    let (stalled, ready) = eventually("the bucket to stall", || async {
        let b = api.get("gcs").await?;
        let conditions = b.status.map(|s| s.conditions).unwrap_or_default();
        Ok(conditions::find(&conditions, conditions::STALLED)
            .filter(|c| c.status == "True")
            .cloned()
            .zip(conditions::find(&conditions, conditions::READY).cloned()))
    })
    .await?;
    assert_eq!(stalled.reason, "InvalidSpec");
    assert_eq!(ready.status, "False");
    assert!(
        ready
            .message
            .contains("bucket provider Gcp is not supported"),
        "{}",
        ready.message
    );
    hub.shutdown().await;
    Ok(())
}
