//! First clone vs incremental fetch of a 5,000-file repository through `git http-backend`,
//! flotilla-source (gix, shallow, exported to the artifact store) side by side with the
//! `git` CLI (`git clone --depth 1`, then `git fetch --depth 1` and a checkout) against the
//! same server. Bytes are what the server sent (ref advertisements and packs).
//!
//! Run with `cargo bench -p flotilla-source --bench git_fetch`; `FILES` and `CHANGED`
//! override the repository's size and the number of files the second commit touches.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark fails loudly.

use std::process::Command;
use std::time::{Duration, Instant};

use flotilla_source::git::{GitAuth, GitFetcher, GitSource, GitTarget};
use flotilla_source::{ArtifactStore, Limits};
use flotilla_testkit::git::{GitHttpServer, GitRepos, HttpAuth};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn manifest(i: usize, replicas: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels:\n    app: app-{i}\n\
         spec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: app-{i}\n  template:\n\
         \x20   metadata:\n      labels:\n        app: app-{i}\n    spec:\n      containers:\n\
         \x20       - name: app\n          image: registry.example.com/app-{i}:1.{i}.0\n"
    )
}

/// Runs a `git` command isolated from the machine's configuration; returns its duration.
fn git(args: &[&str], dir: &std::path::Path) -> Duration {
    let started = Instant::now();
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?} failed");
    started.elapsed()
}

struct Row {
    what: &'static str,
    time: Duration,
    bytes: u64,
}

#[tokio::main]
async fn main() {
    let files = env_number("FILES", 5000);
    let changed = env_number("CHANGED", 10);
    let repos = GitRepos::new().unwrap();
    let work = repos.create("fleet", "main").unwrap();
    for i in 0..files {
        work.write(
            &format!("apps/app-{:04}/deployment.yaml", i),
            manifest(i, 1),
        )
        .unwrap();
    }
    work.commit("initial").unwrap();
    work.push().unwrap();
    let server = GitHttpServer::start(&repos, HttpAuth::None).await.unwrap();
    let url = server.url("fleet");
    let scratch = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(scratch.path().join("store"), Limits::default()).unwrap();
    let fetcher = GitFetcher::new(store, scratch.path().join("cache"));
    let source = GitSource {
        url: url.clone(),
        target: GitTarget::Branch("main".into()),
        auth: GitAuth::Anonymous,
        ignore: None,
        ca_cert: None,
        timeout: Duration::from_secs(300),
    };
    let mut rows = Vec::new();
    let mut measure = |what, bytes_before: u64, started: Instant, server: &GitHttpServer| {
        rows.push(Row {
            what,
            time: started.elapsed(),
            bytes: server.response_bytes() - bytes_before,
        });
    };

    let (before, started) = (server.response_bytes(), Instant::now());
    let first = fetcher.fetch(&source).await.unwrap();
    measure("flotilla first fetch + export", before, started, &server);
    let (before, started) = (server.response_bytes(), Instant::now());
    git(
        &["clone", "-q", "--depth", "1", &url, "cli"],
        scratch.path(),
    );
    measure("git clone --depth 1", before, started, &server);

    let (before, started) = (server.response_bytes(), Instant::now());
    let unchanged = fetcher.fetch(&source).await.unwrap();
    assert!(!unchanged.exported);
    measure("flotilla fetch, nothing new", before, started, &server);
    let cli = scratch.path().join("cli");
    let (before, started) = (server.response_bytes(), Instant::now());
    git(&["fetch", "-q", "--depth", "1", "origin", "main"], &cli);
    measure("git fetch --depth 1, nothing new", before, started, &server);

    for i in 0..changed {
        work.write(
            &format!("apps/app-{:04}/deployment.yaml", i * 7 % files),
            manifest(i, 3),
        )
        .unwrap();
    }
    work.commit("scale").unwrap();
    work.push().unwrap();

    let (before, started) = (server.response_bytes(), Instant::now());
    let second = fetcher.fetch(&source).await.unwrap();
    measure(
        "flotilla incremental fetch + export",
        before,
        started,
        &server,
    );
    let (before, started) = (server.response_bytes(), Instant::now());
    git(&["fetch", "-q", "--depth", "1", "origin", "main"], &cli);
    git(&["checkout", "-q", "FETCH_HEAD"], &cli);
    measure("git fetch --depth 1 + checkout", before, started, &server);

    println!("repository: {files} files, second commit changes {changed}");
    println!(
        "flotilla objects received: first {} ({} pack bytes written), incremental {} ({} pack bytes written, thin pack completed locally)",
        first.transfer.objects,
        first.transfer.bytes,
        second.transfer.objects,
        second.transfer.bytes
    );
    println!(
        "{:<40} {:>10} {:>12}",
        "operation", "time (ms)", "bytes sent"
    );
    for row in &rows {
        println!(
            "{:<40} {:>10.1} {:>12}",
            row.what,
            row.time.as_secs_f64() * 1000.0,
            row.bytes
        );
    }
    let ratio = |a: usize, b: usize| rows[a].time.as_secs_f64() / rows[b].time.as_secs_f64();
    println!(
        "time flotilla/git: first {:.2}, nothing new {:.2}, incremental {:.2}",
        ratio(0, 1),
        ratio(2, 3),
        ratio(4, 5)
    );
}
