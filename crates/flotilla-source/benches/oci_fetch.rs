//! OCI and Helm fetch costs against real servers on loopback: an OCIRepository artifact of
//! 5,000 manifests (one tar+gzip layer, pushed with oci-client to Debian's `docker-registry`)
//! fetched first, again unchanged (manifest only, the layer is not pulled), and at a new tag
//! with a few files changed (OCI layers are whole: the full layer is pulled again); and a
//! Helm chart (real `helm package`/`helm repo index`) fetched first and again unchanged.
//!
//! The system `tar -xzf` of the same layer from a local file is shown for comparison.
//!
//! Run with `cargo bench -p flotilla-source --bench oci_fetch`; `FILES` overrides the
//! artifact's size. Skipped with a message where `docker-registry` is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark fails loudly.

use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use flotilla_source::helm::{HelmChartSource, HelmFetcher, HelmRepositorySource};
use flotilla_source::oci::{LayerSelection, OciFetcher, OciSource, OciTarget};
use flotilla_source::{ArtifactStore, Credentials, Limits};
use flotilla_testkit::helm::{HelmCharts, HelmRepoServer};
use flotilla_testkit::registry::Registry;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

fn layer(files: usize, version: usize, changed: usize) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for i in 0..files {
        let replicas = if i < changed { version + 1 } else { 1 };
        let body = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\nspec:\n  replicas: {replicas}\n\
             \x20 template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/app-{i}:1.{i}.0\n"
        );
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, format!("apps/app-{i}.yaml"), body.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

async fn push(registry: &Registry, tag: &str, data: Vec<u8>) {
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let reference: Reference = format!("{}/fleet/app:{tag}", registry.host())
        .parse()
        .unwrap();
    let layers = [ImageLayer::new(
        data,
        "application/vnd.cncf.flux.content.v1.tar+gzip".into(),
        None,
    )];
    let config = Config::new(
        b"{}".to_vec(),
        "application/vnd.cncf.flux.config.v1+json".into(),
        None,
    );
    client
        .push(&reference, &layers, config, &RegistryAuth::Anonymous, None)
        .await
        .unwrap();
}

/// How long the system `tar` takes to unpack the same layer from a local file.
fn tar_baseline(layer: &[u8]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("layer.tar.gz");
    std::fs::write(&file, layer).unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let started = Instant::now();
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&file)
        .arg("-C")
        .arg(dir.path().join("out"))
        .status()
        .unwrap();
    assert!(status.success());
    started.elapsed()
}

fn row(what: &str, time: Duration, bytes: usize) {
    println!(
        "{what:<44} {:>9.1} ms {bytes:>12} bytes",
        time.as_secs_f64() * 1000.0
    );
}

#[tokio::main]
async fn main() {
    let Some(registry) = Registry::start_or_skip(None).unwrap() else {
        return;
    };
    let files = std::env::var("FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let (first, second) = (layer(files, 1, 0), layer(files, 2, 10));
    let (first_len, second_len) = (first.len(), second.len());
    let baseline = tar_baseline(&first);
    push(&registry, "v1", first).await;
    push(&registry, "v2", second).await;
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("store"), Limits::default()).unwrap();
    let oci = OciFetcher::new(store.clone());
    let source = |tag: &str| OciSource {
        url: registry.url("fleet/app"),
        target: OciTarget::Tag(tag.into()),
        credentials: Credentials::Anonymous,
        ca_cert: None,
        insecure: true,
        layer: LayerSelection::default(),
        ignore: None,
        timeout: Duration::from_secs(120),
    };
    println!("OCI artifact of {files} files");
    let started = Instant::now();
    oci.fetch(&source("v1")).await.unwrap();
    row("first fetch (pull + extract)", started.elapsed(), first_len);
    row(
        "  for comparison: tar -xzf of the same layer",
        baseline,
        first_len,
    );
    let started = Instant::now();
    oci.fetch(&source("v1")).await.unwrap();
    row("unchanged (manifest only)", started.elapsed(), 0);
    let started = Instant::now();
    oci.fetch(&source("v2")).await.unwrap();
    row(
        "new tag, 10 files changed (whole layer)",
        started.elapsed(),
        second_len,
    );
    assert_eq!(oci.layer_pulls(), 2);

    let charts = HelmCharts::new().unwrap();
    let tgz = charts.package("podinfo", "1.0.0", "x").unwrap();
    charts.index(None).unwrap();
    let server = HelmRepoServer::start(&charts.repo_dir(), None)
        .await
        .unwrap();
    let helm = HelmFetcher::new(store);
    let chart = HelmChartSource {
        repository: HelmRepositorySource {
            url: server.url(),
            credentials: Credentials::Anonymous,
            ca_cert: None,
            pass_credentials: false,
            insecure: false,
            timeout: Duration::from_secs(60),
        },
        chart: "podinfo".into(),
        version: "1.x".into(),
    };
    let bytes = std::fs::metadata(&tgz).unwrap().len() as usize
        + std::fs::metadata(charts.repo_dir().join("index.yaml"))
            .unwrap()
            .len() as usize;
    println!("Helm chart (index + package)");
    let started = Instant::now();
    helm.fetch_chart(&chart).await.unwrap();
    row(
        "first fetch (index, package, verify, unpack)",
        started.elapsed(),
        bytes,
    );
    let started = Instant::now();
    helm.fetch_chart(&chart).await.unwrap();
    row(
        "unchanged (downloads, no parse, no unpack)",
        started.elapsed(),
        bytes,
    );
}
