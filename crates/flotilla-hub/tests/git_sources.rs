//! The GitRepository reconciler against a kubesim management cluster and a real
//! `git http-backend`: readiness and status, new commits on the interval, reconcile on
//! demand, suspend, authentication failures, artifact garbage collection, `kubectl wait`,
//! and the bound on reconciles in flight.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::process::Command;

use anyhow::Context as _;
use common::{Hub, NS, eventually};
use flotilla_api::GitRepository;
use flotilla_api::conditions::{self, Status};
use flotilla_api::well_known::RECONCILE_REQUESTED_AT_ANNOTATION;
use flotilla_testkit::git::{GitHttpServer, GitRepos, HttpAuth, WorkTree};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

fn gitrepo(name: &str, url: &str, interval: &str) -> GitRepository {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"url": url, "interval": interval, "ref": {"branch": "main"}, "timeout": "20s"},
    }))
    .unwrap()
}

/// Creates `gitrepo(name, url, interval)`.
async fn create(
    api: &Api<GitRepository>,
    name: &str,
    url: &str,
    interval: &str,
) -> anyhow::Result<()> {
    api.create(&PostParams::default(), &gitrepo(name, url, interval))
        .await?;
    Ok(())
}

/// A repository `app` whose `main` has one pushed commit (`a.yaml`), and that commit.
fn repo_with_one_commit() -> anyhow::Result<(GitRepos, WorkTree, String)> {
    let repos = GitRepos::new()?;
    let work = repos.create("app", "main")?;
    work.write("a.yaml", "a: 1\n")?;
    let head = work.commit("first")?;
    work.push()?;
    Ok((repos, work, head))
}

/// Waits until `name` is Ready for its current generation with a revision for `commit`.
async fn ready_at(
    api: &Api<GitRepository>,
    name: &str,
    commit: &str,
) -> anyhow::Result<GitRepository> {
    let want = format!("main@sha1:{commit}");
    eventually(&format!("{name} Ready at {want}"), || async {
        let repo = api.get(name).await?;
        let status = repo.status.clone().unwrap_or_default();
        let ready = conditions::is_ready(&status.conditions, repo.metadata.generation);
        let revision = status.artifact.as_ref().map(|a| a.revision.as_str());
        Ok((ready && revision == Some(want.as_str())).then_some(repo))
    })
    .await
}

async fn annotate(api: &Api<GitRepository>, name: &str, value: &str) -> anyhow::Result<()> {
    let patch = serde_json::json!({"metadata": {"annotations": {RECONCILE_REQUESTED_AT_ANNOTATION: value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitrepository_becomes_ready_and_follows_new_commits() -> anyhow::Result<()> {
    let repos = GitRepos::new()?;
    let work = repos.create("app", "main")?;
    work.write("deploy/app.yaml", "kind: ConfigMap\n")?;
    let first = work.commit("first")?;
    work.push()?;
    let server = GitHttpServer::start(&repos, HttpAuth::None).await?;
    let hub = Hub::start().await?;
    let api = hub.api::<GitRepository>();
    create(&api, "app", &server.url("app"), "1s").await?;

    let repo = ready_at(&api, "app", &first).await?;
    let status = repo.status.unwrap();
    assert_eq!(status.observed_generation, Some(1));
    assert!(conditions::has_status(
        &status.conditions,
        conditions::ARTIFACT_IN_STORAGE,
        Status::True
    ));
    let ready = conditions::find(&status.conditions, conditions::READY).unwrap();
    assert_eq!(ready.reason, "Succeeded");
    assert_eq!(
        ready.message,
        format!("stored artifact for revision 'main@sha1:{first}'")
    );
    let artifact = status.artifact.unwrap();
    assert!(artifact.digest.starts_with("sha256:"));
    assert!(artifact.size.unwrap() > 0);
    let dir = hub.sources.store().root().join(&artifact.path);
    assert_eq!(
        std::fs::read_to_string(dir.join("deploy/app.yaml"))?,
        "kind: ConfigMap\n"
    );
    assert!(
        repo.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"finalizers.flotilla.dev".to_owned())
    );

    work.write("deploy/app.yaml", "kind: ConfigMap\ndata: {a: b}\n")?;
    let second = work.commit("second")?;
    work.push()?;
    let repo = ready_at(&api, "app", &second).await?;
    let artifact = repo.status.unwrap().artifact.unwrap();
    let dir = hub.sources.store().root().join(&artifact.path);
    assert_eq!(
        std::fs::read_to_string(dir.join("deploy/app.yaml"))?,
        "kind: ConfigMap\ndata: {a: b}\n"
    );
    hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_at_reconciles_at_once_and_suspend_stops_it() -> anyhow::Result<()> {
    let (repos, work, first) = repo_with_one_commit()?;
    let other = repos.create("other", "main")?;
    other.write("b.yaml", "b: 1\n")?;
    other.commit("b")?;
    other.push()?;
    let server = GitHttpServer::start(&repos, HttpAuth::None).await?;
    let hub = Hub::start().await?;
    let api = hub.api::<GitRepository>();
    // An hour's interval: only a request can make it fetch again within the test.
    create(&api, "app", &server.url("app"), "1h").await?;
    ready_at(&api, "app", &first).await?;

    work.write("a.yaml", "a: 2\n")?;
    let second = work.commit("second")?;
    work.push()?;
    annotate(&api, "app", "2026-11-26T07:00:00Z").await?;
    let repo = ready_at(&api, "app", &second).await?;
    assert_eq!(
        repo.status.unwrap().last_handled_reconcile_at.as_deref(),
        Some("2026-11-26T07:00:00Z")
    );

    // Suspended: neither a new commit nor a request is acted on.
    let patch = serde_json::json!({"spec": {"suspend": true}});
    api.patch("app", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    work.write("a.yaml", "a: 3\n")?;
    let third = work.commit("third")?;
    work.push()?;
    annotate(&api, "app", "2026-11-26T07:05:00Z").await?;
    // A second source fetched every second shows the controllers at work meanwhile.
    create(&api, "other", &server.url("other"), "1s").await?;
    let git = hub.sources.git();
    let start = git.remote_fetches();
    eventually("three more fetches of the other source", || async {
        Ok((git.remote_fetches() >= start + 3).then_some(()))
    })
    .await?;
    let repo = api.get("app").await?;
    let status = repo.status.unwrap();
    assert_eq!(
        status.artifact.unwrap().revision,
        format!("main@sha1:{second}")
    );
    assert_eq!(
        status.last_handled_reconcile_at.as_deref(),
        Some("2026-11-26T07:00:00Z")
    );

    // Resumed: the new generation is fetched.
    let patch = serde_json::json!({"spec": {"suspend": false}});
    api.patch("app", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    ready_at(&api, "app", &third).await?;
    hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_authentication_failed_and_does_not_stall_others() -> anyhow::Result<()>
{
    let (repos, _work, head) = repo_with_one_commit()?;
    let server =
        GitHttpServer::start(&repos, HttpAuth::Basic("git".into(), "right-pass".into())).await?;
    let hub = Hub::start().await?;
    hub.secret(
        "wrong",
        &[("username", "git"), ("password", "hunter2-wrong")],
    )
    .await?;
    hub.secret("right", &[("username", "git"), ("password", "right-pass")])
        .await?;
    let api = hub.api::<GitRepository>();
    for (name, secret) in [("bad", "wrong"), ("good", "right"), ("nosecret", "missing")] {
        let mut repo = gitrepo(name, &server.url("app"), "1m");
        repo.spec.secret_ref = Some(flotilla_api::common::LocalObjectReference::new(secret));
        api.create(&PostParams::default(), &repo).await?;
    }
    ready_at(&api, "good", &head).await?;

    for (name, cause) in [
        ("bad", "authentication to"),
        ("nosecret", "secret 'fleet/missing' not found"),
    ] {
        let ready = eventually(&format!("{name} to fail"), || async {
            let repo = api.get(name).await?;
            let conditions = repo.status.map(|s| s.conditions).unwrap_or_default();
            Ok(conditions::find(&conditions, conditions::READY)
                .filter(|c| c.status == "False")
                .cloned())
        })
        .await?;
        assert_eq!(ready.reason, "AuthenticationFailed", "{ready:?}");
        assert!(
            ready
                .message
                .starts_with(&format!("GitRepository {NS}/{name}: ")),
            "{}",
            ready.message
        );
        assert!(ready.message.contains(cause), "{}", ready.message);
        assert!(!ready.message.contains("hunter2"), "{}", ready.message);
    }
    hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_sources_frees_their_shared_artifact_with_the_last_one() -> anyhow::Result<()> {
    let (repos, _work, head) = repo_with_one_commit()?;
    let server = GitHttpServer::start(&repos, HttpAuth::None).await?;
    let hub = Hub::start().await?;
    let api = hub.api::<GitRepository>();
    for name in ["one", "two"] {
        create(&api, name, &server.url("app"), "1h").await?;
    }
    let one = ready_at(&api, "one", &head).await?;
    let two = ready_at(&api, "two", &head).await?;
    let path = one.status.unwrap().artifact.unwrap().path;
    assert_eq!(
        two.status.unwrap().artifact.unwrap().path,
        path,
        "same content, one artifact"
    );
    let dir = hub.sources.store().root().join(&path);
    assert!(dir.is_dir());

    api.delete("one", &DeleteParams::default()).await?;
    eventually("one to be gone", || async {
        Ok(api.get_opt("one").await?.is_none().then_some(()))
    })
    .await?;
    assert!(dir.is_dir(), "two still uses the artifact");

    api.delete("two", &DeleteParams::default()).await?;
    eventually("two to be gone", || async {
        Ok(api.get_opt("two").await?.is_none().then_some(()))
    })
    .await?;
    assert!(!dir.exists(), "the artifact no source uses is collected");
    hub.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_wait_for_ready_works() -> anyhow::Result<()> {
    let (repos, _work, _) = repo_with_one_commit()?;
    let server = GitHttpServer::start(&repos, HttpAuth::None).await?;
    let hub = Hub::start().await?;
    create(&hub.api(), "x", &server.url("app"), "1h").await?;
    let kubectl = flotilla_testkit::tools::kubectl()?;
    let kubeconfig = hub.kubeconfig.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "wait",
                "--for=condition=Ready",
                "gitrepository/x",
                "-n",
                NS,
                "--timeout=60s",
            ])
            .output()
    })
    .await?
    .context("running kubectl")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), "gitrepository.flotilla.dev/x condition met");
    hub.shutdown().await;
    Ok(())
}

/// Creates GitRepository `hanging` of `silent`'s URL with `timeout`, and waits until its
/// fetch has started (or, with a short timeout on a slow machine, already failed).
async fn start_hanging(
    api: &Api<GitRepository>,
    silent: &flotilla_testkit::git::SilentServer,
    timeout: &str,
) -> anyhow::Result<()> {
    let mut hanging = gitrepo("hanging", &silent.url(), "1h");
    hanging.spec.timeout = Some(timeout.parse()?);
    api.create(&PostParams::default(), &hanging).await?;
    eventually("the hanging source to start its fetch", || async {
        let repo = api.get("hanging").await?;
        let conditions = repo.status.map(|s| s.conditions).unwrap_or_default();
        let started = conditions::has_status(&conditions, conditions::RECONCILING, Status::True)
            || conditions::has_status(&conditions, conditions::READY, Status::False);
        Ok(started.then_some(()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_source_does_not_hold_up_the_others() -> anyhow::Result<()> {
    let silent = flotilla_testkit::git::SilentServer::start().await?;
    let (repos, _work, head) = repo_with_one_commit()?;
    let server = GitHttpServer::start(&repos, HttpAuth::None).await?;
    let hub = Hub::start().await?;
    let api = hub.api::<GitRepository>();
    start_hanging(&api, &silent, "10m").await?;

    create(&api, "app", &server.url("app"), "1h").await?;
    ready_at(&api, "app", &head).await?;
    // The other fetch is still in progress: it never finished, it just did not block.
    let repo = api.get("hanging").await?;
    let conditions = repo.status.map(|s| s.conditions).unwrap_or_default();
    assert!(conditions::has_status(
        &conditions,
        conditions::RECONCILING,
        Status::True
    ));
    assert!(conditions::has_status(
        &conditions,
        conditions::READY,
        Status::Unknown
    ));
    hub.shutdown().await;
    Ok(())
}

/// With one reconcile per kind at a time, a second GitRepository waits for the first's
/// fetch to end (here, a silent server's, at its 3 s timeout): the second turns Ready no
/// earlier than the first turned Ready=False. Unbounded, the second is Ready within a
/// second, while the first still waits for its server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciles_of_a_kind_are_bounded_by_the_concurrency() -> anyhow::Result<()> {
    let silent = flotilla_testkit::git::SilentServer::start().await?;
    let (repos, _work, head) = repo_with_one_commit()?;
    let server = GitHttpServer::start(&repos, HttpAuth::None).await?;
    let hub = Hub::start_with_concurrency(1).await?;
    let api = hub.api::<GitRepository>();
    start_hanging(&api, &silent, "3s").await?;

    create(&api, "app", &server.url("app"), "1h").await?;
    let app = ready_at(&api, "app", &head).await?;
    let hanging = api.get("hanging").await?;
    let ready_condition = |repo: &GitRepository| {
        let conditions = repo.status.clone().unwrap_or_default().conditions;
        conditions::find(&conditions, conditions::READY).cloned()
    };
    let failed = ready_condition(&hanging).context("hanging has a Ready condition")?;
    assert_eq!(failed.status, "False", "{failed:?}");
    let ready = ready_condition(&app).context("app has a Ready condition")?;
    assert!(
        ready.last_transition_time.0 >= failed.last_transition_time.0,
        "app Ready at {:?}, before hanging failed at {:?}",
        ready.last_transition_time,
        failed.last_transition_time
    );
    hub.shutdown().await;
    Ok(())
}
