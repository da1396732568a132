//! The HelmRepository and OCIRepository reconcilers against a kubesim management cluster:
//! a Helm repository served over HTTP (charts from the real `helm package` and `helm repo
//! index`), an OCI HelmRepository, and an OCIRepository pulling a chart the real `helm push`
//! put into a real registry (Debian's `docker-registry`; skipped with a message where it is
//! not installed, never under CI).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Hub, NS, eventually};
use flotilla_api::conditions;
use flotilla_api::source::SourceStatus;
use flotilla_api::{HelmRepository, OCIRepository};
use flotilla_testkit::helm::{HelmCharts, HelmRepoServer};
use flotilla_testkit::registry::Registry;
use kube::api::{Api, PostParams};
use serde::de::DeserializeOwned;

fn object<K: DeserializeOwned>(kind: &str, name: &str, spec: serde_json::Value) -> K {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }))
    .unwrap()
}

/// Waits until the object is Ready for its generation; returns its status.
async fn ready<K>(
    api: &Api<K>,
    name: &str,
    status: fn(&K) -> Option<&SourceStatus>,
) -> anyhow::Result<SourceStatus>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    eventually(&format!("{name} to be Ready"), || async {
        let obj = api.get(name).await?;
        let s = status(&obj).cloned().unwrap_or_default();
        Ok(conditions::is_ready(&s.conditions, obj.meta().generation).then_some(s))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_repositories_become_ready_with_the_index_or_without_an_artifact() -> anyhow::Result<()>
{
    let charts = HelmCharts::new()?;
    charts.package("podinfo", "6.0.0", "v6")?;
    charts.index(None)?;
    let server = HelmRepoServer::start(&charts.repo_dir(), None).await?;
    let hub = Hub::start().await?;
    let api = hub.api::<HelmRepository>();
    api.create(
        &PostParams::default(),
        &object(
            "HelmRepository",
            "charts",
            serde_json::json!({"url": server.url(), "interval": "1m"}),
        ),
    )
    .await?;
    api.create(
        &PostParams::default(),
        &object(
            "HelmRepository",
            "registry",
            serde_json::json!({"url": "oci://127.0.0.1:1/charts", "type": "oci", "interval": "1m"}),
        ),
    )
    .await?;

    let status = ready(&api, "charts", |r| r.status.as_ref()).await?;
    let artifact = status.artifact.unwrap();
    assert!(
        artifact.revision.starts_with("sha256:"),
        "{}",
        artifact.revision
    );
    let index = std::fs::read_to_string(
        hub.sources
            .store()
            .root()
            .join(&artifact.path)
            .join("index.yaml"),
    )?;
    assert!(index.contains("podinfo"), "{index}");
    assert!(conditions::has_status(
        &status.conditions,
        conditions::ARTIFACT_IN_STORAGE,
        conditions::Status::True
    ));

    let status = ready(&api, "registry", |r| r.status.as_ref()).await?;
    assert!(status.artifact.is_none());
    let ready = conditions::find(&status.conditions, conditions::READY).unwrap();
    assert_eq!(ready.message, "Helm repository is ready");
    hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ocirepository_pulls_the_selected_layer() -> anyhow::Result<()> {
    let Some(registry) = Registry::start_or_skip(None)? else {
        return Ok(());
    };
    let charts = HelmCharts::new()?;
    let tgz = charts.package("podinfo", "1.0.0", "v1")?;
    let target = format!("oci://{}/charts", registry.host());
    charts.push_plain_http(&tgz, &target)?;
    let hub = Hub::start().await?;
    let api = hub.api::<OCIRepository>();
    api.create(
        &PostParams::default(),
        &object(
            "OCIRepository",
            "podinfo",
            serde_json::json!({
                "url": format!("{target}/podinfo"), "insecure": true, "interval": "1m",
                "ref": {"tag": "1.0.0"},
                "layerSelector": {
                    "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                    "operation": "extract",
                },
            }),
        ),
    )
    .await?;
    let status = ready(&api, "podinfo", |r| r.status.as_ref()).await?;
    let artifact = status.artifact.unwrap();
    assert!(
        artifact.revision.starts_with("1.0.0@sha256:"),
        "{}",
        artifact.revision
    );
    let dir = hub.sources.store().root().join(&artifact.path);
    let chart = std::fs::read_to_string(dir.join("podinfo/Chart.yaml"))?;
    assert!(chart.contains("name: podinfo"), "{chart}");
    hub.shutdown().await;
    Ok(())
}
