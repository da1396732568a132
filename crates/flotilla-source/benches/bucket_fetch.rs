//! A bucket of `OBJECTS` manifests (default 500) on `moto_server`: the first fetch
//! (list + download every object), an unchanged interval (one listing, nothing
//! downloaded) and an interval after one object changed (one download; the other objects
//! are hard-linked from the previous artifact).
//!
//! Run with `cargo bench -p flotilla-source --bench bucket_fetch`. moto is a Python
//! server, so absolute times say more about it than about a real S3; the ratios are the
//! point.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark fails loudly.

use std::time::{Duration, Instant};

use flotilla_source::bucket::{BucketCredentials, BucketFetcher, BucketSource};
use flotilla_source::{ArtifactStore, Limits};
use flotilla_testkit::s3::{REGION, S3Server};

#[tokio::main]
async fn main() {
    let objects: usize = std::env::var("OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let Some(server) = S3Server::start_or_skip().await.unwrap() else {
        return;
    };
    server.create_bucket("fleet").await.unwrap();
    for i in 0..objects {
        let body = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  i: \"{i}\"\n"
        );
        server
            .put("fleet", &format!("apps/cm-{i}.yaml"), body)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("store"), Limits::default()).unwrap();
    let fetcher = BucketFetcher::new(store);
    let source = BucketSource {
        endpoint: server.endpoint(),
        bucket: "fleet".into(),
        region: REGION.into(),
        prefix: None,
        credentials: Some(BucketCredentials {
            access_key_id: server.access_key_id().into(),
            secret_access_key: server.secret_access_key().into(),
        }),
        ignore: None,
        timeout: Duration::from_secs(120),
    };
    let timed = |label: &'static str| {
        let fetcher = &fetcher;
        let source = &source;
        async move {
            let before = fetcher.downloaded_objects();
            let started = Instant::now();
            let fetched = fetcher.fetch(source).await.unwrap();
            let took = started.elapsed();
            println!(
                "{label:<28} {:>8.1} ms  {:>5} objects downloaded  revision {}",
                took.as_secs_f64() * 1000.0,
                fetcher.downloaded_objects() - before,
                fetched.artifact.revision.short(12)
            );
            took
        }
    };
    println!("bucket of {objects} objects on moto_server");
    let first = timed("first fetch").await;
    let unchanged = timed("unchanged (listing only)").await;
    server
        .put("fleet", "apps/cm-0.yaml", "kind: ConfigMap\n")
        .await
        .unwrap();
    let changed = timed("one object changed").await;
    println!(
        "vs the first fetch: unchanged check {:.1}x faster, one-object change {:.1}x faster",
        first.as_secs_f64() / unchanged.as_secs_f64(),
        first.as_secs_f64() / changed.as_secs_f64()
    );
}
