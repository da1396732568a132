//! The hub binary with a management cluster: it says which cluster it uses and its source
//! controllers make a GitRepository Ready, storing the artifact under `--artifacts-dir`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use common::{Hub, NS, eventually};
use flotilla_api::GitRepository;
use flotilla_api::conditions;
use flotilla_testkit::git::{GitHttpServer, GitRepos, HttpAuth};
use flotilla_testkit::postgres::TestDb;
use kube::api::PostParams;

/// Kills the hub if the test fails before stopping it.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_process_runs_source_controllers_against_its_management_cluster()
-> anyhow::Result<()> {
    let repos = GitRepos::new()?;
    let work = repos.create("app", "main")?;
    work.write("app.yaml", "kind: ConfigMap\n")?;
    let head = work.commit("first")?;
    work.push()?;
    let server = GitHttpServer::start(&repos, HttpAuth::None).await?;
    let cluster = Hub::without_controllers().await?;
    let db = TestDb::new().await?;
    let artifacts = tempfile::tempdir()?;

    let mut hub = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_flotilla-hub"))
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .arg("--artifacts-dir")
            .arg(artifacts.path())
            .env("DATABASE_URL", &db.url)
            .env("FLOTILLA_LISTEN", "127.0.0.1:0")
            .env("FLOTILLA_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let child = &mut hub.0;
    let stdout = child.stdout.take().context("stdout is piped")?;
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(3)
        .collect::<Result<_, _>>()?;
    let third = lines
        .get(2)
        .context("the hub printed fewer than three lines")?;
    assert!(
        third.starts_with(&format!(
            "management cluster: {}",
            cluster.fleet.clusters()[0].server_url()
        )),
        "{third}"
    );
    assert!(third.contains("source controllers on"), "{third}");

    let repo: GitRepository = serde_json::from_value(serde_json::json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": NS},
        "spec": {"url": server.url("app"), "interval": "1h", "ref": {"branch": "main"}},
    }))?;
    let api = cluster.api::<GitRepository>();
    api.create(&PostParams::default(), &repo).await?;
    let status = eventually("the GitRepository to be Ready", || async {
        let repo = api.get("app").await?;
        let status = repo.status.clone().unwrap_or_default();
        Ok(conditions::is_ready(&status.conditions, repo.metadata.generation).then_some(status))
    })
    .await?;
    let artifact = status.artifact.unwrap();
    assert_eq!(artifact.revision, format!("main@sha1:{head}"));
    let stored = artifacts
        .path()
        .join("store")
        .join(&artifact.path)
        .join("app.yaml");
    assert_eq!(std::fs::read_to_string(stored)?, "kind: ConfigMap\n");
    let base = lines[0]
        .strip_prefix("flotilla-hub listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .with_context(|| format!("unexpected banner: {}", lines[0]))?;
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains(
            r#"flotilla_hub_source_fetches_total{kind="GitRepository",result="Succeeded"} 1"#
        ),
        "{metrics}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            child.kill()?;
            bail!("the hub did not exit within 20s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "hub exited with {status}");
    cluster.shutdown().await;
    Ok(())
}
