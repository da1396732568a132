//! Bucket sources against a real S3-compatible server (`moto_server`) on loopback, with
//! authentication enforced: contents, prefix, ignore rules, revisions and change
//! detection, and the failures a user meets (wrong keys, missing bucket, dead endpoint).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::time::{Duration, Instant};

use flotilla_source::bucket::{BucketCredentials, BucketFetcher, BucketSource, revision_of};
use flotilla_source::{ArtifactStore, Limits, SourceError, SourceSpec, Sources};
use flotilla_testkit::git::SilentServer;
use flotilla_testkit::s3::{REGION, S3Server};
use tempfile::TempDir;

struct Env {
    _dir: TempDir,
    fetcher: BucketFetcher,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("store"), Limits::default()).unwrap();
    Env {
        fetcher: BucketFetcher::new(store),
        _dir: dir,
    }
}

fn source(server: &S3Server, bucket: &str) -> BucketSource {
    BucketSource {
        endpoint: server.endpoint(),
        bucket: bucket.to_owned(),
        region: REGION.to_owned(),
        prefix: None,
        credentials: Some(BucketCredentials {
            access_key_id: server.access_key_id().to_owned(),
            secret_access_key: server.secret_access_key().to_owned(),
        }),
        ignore: None,
        timeout: Duration::from_secs(30),
    }
}

fn read(artifact: &flotilla_source::Artifact, path: &str) -> String {
    std::fs::read_to_string(artifact.path.join(path)).unwrap()
}

/// A server with bucket `fleet` holding a few objects.
async fn seeded() -> Option<S3Server> {
    let server = S3Server::start_or_skip().await.unwrap()?;
    server.create_bucket("fleet").await.unwrap();
    for (key, body) in [
        ("apps/web/deploy.yaml", "kind: Deployment\n"),
        ("apps/web/notes.md", "# notes\n"),
        ("apps-old/x.yaml", "old: true\n"),
        ("infra/ns.yaml", "kind: Namespace\n"),
        ("logo.png", "png"),
    ] {
        server.put("fleet", key, body).await.unwrap();
    }
    Some(server)
}

#[tokio::test]
async fn objects_become_an_artifact_with_flux_revision() {
    let Some(server) = seeded().await else { return };
    let env = env();
    let fetched = env.fetcher.fetch(&source(&server, "fleet")).await.unwrap();
    let artifact = &fetched.artifact;
    assert!(fetched.downloaded);
    assert_eq!(read(artifact, "apps/web/deploy.yaml"), "kind: Deployment\n");
    assert_eq!(read(artifact, "infra/ns.yaml"), "kind: Namespace\n");
    assert_eq!(read(artifact, "apps-old/x.yaml"), "old: true\n");
    // Flux's default exclusions apply to buckets too.
    assert!(!artifact.path.join("logo.png").exists());
    assert_eq!(artifact.files, 4);
    let revision = artifact.revision.to_string();
    assert!(revision.starts_with("sha256:"), "{revision}");
    assert_eq!(revision.len(), "sha256:".len() + 64);
}

#[tokio::test]
async fn prefix_is_a_plain_string_prefix_and_keys_keep_it() {
    let Some(server) = seeded().await else { return };
    let env = env();
    let mut src = source(&server, "fleet");
    src.prefix = Some("apps/".into());
    let artifact = env.fetcher.fetch(&src).await.unwrap().artifact;
    assert_eq!(
        read(&artifact, "apps/web/deploy.yaml"),
        "kind: Deployment\n"
    );
    assert!(!artifact.path.join("infra").exists());
    assert!(!artifact.path.join("apps-old").exists());
    assert_eq!(artifact.files, 2);

    // "apps" (no slash) also matches apps-old/, as a string prefix does in Flux.
    src.prefix = Some("apps".into());
    let artifact = env.fetcher.fetch(&src).await.unwrap().artifact;
    assert_eq!(artifact.files, 3);
    assert!(artifact.path.join("apps-old/x.yaml").is_file());
}

#[tokio::test]
async fn ignore_patterns_from_spec_and_sourceignore() {
    let Some(server) = seeded().await else { return };
    server
        .put("fleet", ".sourceignore", "infra/\n")
        .await
        .unwrap();
    let env = env();
    let mut src = source(&server, "fleet");
    src.ignore = Some("*.md\n".into());
    let artifact = env.fetcher.fetch(&src).await.unwrap().artifact;
    assert!(!artifact.path.join("apps/web/notes.md").exists());
    assert!(!artifact.path.join("infra").exists());
    assert!(artifact.path.join("apps/web/deploy.yaml").is_file());
    // The ignore file is content too, as in Flux.
    assert!(artifact.path.join(".sourceignore").is_file());
    assert_eq!(artifact.files, 3);
}

#[tokio::test]
async fn a_changed_object_changes_the_revision_and_unchanged_skips_the_download() {
    let Some(server) = seeded().await else { return };
    let env = env();
    let src = source(&server, "fleet");
    let first = env.fetcher.fetch(&src).await.unwrap();
    let downloaded = env.fetcher.downloaded_objects();
    assert_eq!(downloaded, 4);

    let again = env.fetcher.fetch(&src).await.unwrap();
    assert!(!again.downloaded);
    assert_eq!(again.artifact.revision, first.artifact.revision);
    assert_eq!(
        env.fetcher.downloaded_objects(),
        downloaded,
        "nothing re-downloaded"
    );

    server
        .put(
            "fleet",
            "apps/web/deploy.yaml",
            "kind: Deployment\nreplicas: 2\n",
        )
        .await
        .unwrap();
    let changed = env.fetcher.fetch(&src).await.unwrap();
    assert!(changed.downloaded);
    assert_eq!(
        env.fetcher.downloaded_objects(),
        downloaded + 1,
        "only the changed object is downloaded"
    );
    assert_eq!(changed.reused, 3);
    // The unchanged files are shared with the previous artifact, not copies.
    use std::os::unix::fs::MetadataExt;
    let inode = |a: &flotilla_source::Artifact| {
        std::fs::metadata(a.path.join("infra/ns.yaml"))
            .unwrap()
            .ino()
    };
    assert_eq!(inode(&changed.artifact), inode(&first.artifact));
    assert_eq!(
        read(&changed.artifact, "infra/ns.yaml"),
        "kind: Namespace\n"
    );
    assert_ne!(changed.artifact.revision, first.artifact.revision);
    assert_ne!(changed.artifact.digest, first.artifact.digest);
    assert_eq!(
        read(&changed.artifact, "apps/web/deploy.yaml"),
        "kind: Deployment\nreplicas: 2\n"
    );

    // The revision is Flux's: sha256 over "<key> <etag>\n" of the objects kept.
    let listed = server.list("fleet").await.unwrap();
    let kept: Vec<(&str, &str)> = listed
        .iter()
        .filter(|(k, _)| k != "logo.png")
        .map(|(k, e)| (k.as_str(), e.as_str()))
        .collect();
    assert_eq!(
        changed.artifact.revision.to_string(),
        format!("sha256:{}", revision_of(kept))
    );
}

#[tokio::test]
async fn wrong_credentials_are_an_authentication_failure() {
    let Some(server) = seeded().await else { return };
    let env = env();
    let mut src = source(&server, "fleet");
    src.credentials = Some(BucketCredentials {
        access_key_id: server.access_key_id().to_owned(),
        secret_access_key: "not-the-secret".into(),
    });
    let err = env.fetcher.fetch(&src).await.unwrap_err();
    assert!(matches!(err, SourceError::Authentication { .. }), "{err:?}");
    assert_eq!(err.reason(), "AuthenticationFailed");
    assert!(!err.to_string().contains("not-the-secret"), "{err}");
    assert!(err.to_string().contains("fleet"), "{err}");
}

#[tokio::test]
async fn a_missing_bucket_is_named() {
    let Some(server) = S3Server::start_or_skip().await.unwrap() else {
        return;
    };
    let env = env();
    let err = env
        .fetcher
        .fetch(&source(&server, "no-such-bucket"))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Bucket { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("bucket 'no-such-bucket' does not exist"),
        "{err}"
    );
    assert_eq!(err.reason(), "BucketOperationFailed");
}

#[tokio::test]
async fn an_unresponsive_endpoint_times_out_within_the_timeout() {
    let silent = SilentServer::start().await.unwrap();
    let env = env();
    let endpoint = silent.url().trim_end_matches("/repo.git").to_owned();
    let src = BucketSource {
        endpoint,
        bucket: "fleet".into(),
        region: REGION.into(),
        prefix: None,
        credentials: None,
        ignore: None,
        timeout: Duration::from_secs(2),
    };
    let started = Instant::now();
    let err = env.fetcher.fetch(&src).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, SourceError::Bucket { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out after 2s"), "{err}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn sources_share_one_fetch_per_bucket() {
    let Some(server) = seeded().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("store"), Limits::default()).unwrap();
    let sources = Sources::new(store, dir.path().join("cache"));
    let spec = SourceSpec::Bucket(source(&server, "fleet"));
    let (a, b) = tokio::join!(sources.fetch(&spec), sources.fetch(&spec));
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(sources.bucket().downloaded_objects(), 4);
}

#[tokio::test]
async fn limits_refuse_a_bucket_too_large_before_downloading() {
    let Some(server) = seeded().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_bytes: 1024,
        max_files: 3,
    };
    let store = ArtifactStore::open(dir.path().join("store"), limits).unwrap();
    let fetcher = BucketFetcher::new(store);
    let err = fetcher.fetch(&source(&server, "fleet")).await.unwrap_err();
    assert!(matches!(err, SourceError::Rejected(_)), "{err:?}");
    assert!(err.to_string().contains("more than 3 files"), "{err}");
    assert_eq!(fetcher.downloaded_objects(), 0);
}
