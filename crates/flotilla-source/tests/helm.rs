//! Helm HTTP repositories against a real static server on loopback, with charts packaged by
//! the real `helm package` and indexed by `helm repo index`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::time::{Duration, Instant};

use flotilla_source::helm::{HelmChartSource, HelmFetcher, HelmRepositorySource};
use flotilla_source::{ArtifactStore, Credentials, Limits, SourceError, SourceSpec, Sources};
use flotilla_testkit::git::SilentServer;
use flotilla_testkit::helm::{HelmCharts, HelmRepoServer};
use flotilla_testkit::tls::TestCa;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

fn store(dir: &TempDir) -> ArtifactStore {
    ArtifactStore::open(dir.path().join("store"), Limits::default()).unwrap()
}

fn repository(url: &str) -> HelmRepositorySource {
    HelmRepositorySource {
        url: url.to_owned(),
        credentials: Credentials::Anonymous,
        ca_cert: None,
        pass_credentials: false,
        insecure: false,
        timeout: Duration::from_secs(30),
    }
}

fn chart(repository: &HelmRepositorySource, name: &str, version: &str) -> HelmChartSource {
    HelmChartSource {
        repository: repository.clone(),
        chart: name.to_owned(),
        version: version.to_owned(),
    }
}

fn sha256_hex(path: &std::path::Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A repository served over HTTP (with basic `auth` if given) holding one chart, podinfo
/// 1.0.0, indexed; the charts' directory must outlive the server.
async fn podinfo_repo(auth: Option<(&str, &str)>) -> (HelmCharts, HelmRepoServer) {
    let charts = HelmCharts::new().unwrap();
    charts.package("podinfo", "1.0.0", "x").unwrap();
    charts.index(None).unwrap();
    let server = HelmRepoServer::start(&charts.repo_dir(), auth)
        .await
        .unwrap();
    (charts, server)
}

/// Digest-named artifact directories in the store.
fn artifacts(dir: &TempDir) -> usize {
    std::fs::read_dir(dir.path().join("store"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count()
}

#[tokio::test]
async fn a_range_resolves_to_the_newest_match_and_the_chart_is_verified_and_unpacked() {
    let charts = HelmCharts::new().unwrap();
    for version in ["1.0.0", "1.2.0", "1.10.0", "1.11.0-rc.1", "2.0.0"] {
        charts
            .package("podinfo", version, &format!("v{version}"))
            .unwrap();
    }
    charts.index(None).unwrap();
    let server = HelmRepoServer::start(&charts.repo_dir(), None)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fetcher = HelmFetcher::new(store(&dir));
    let repo = repository(&server.url());

    let newest = fetcher
        .fetch_chart(&chart(&repo, "podinfo", "1.x"))
        .await
        .unwrap();
    let tgz = charts.repo_dir().join("podinfo-1.10.0.tgz");
    assert_eq!(
        newest.revision.to_string(),
        format!("1.10.0@sha256:{}", sha256_hex(&tgz))
    );
    let chart_yaml = std::fs::read_to_string(newest.path.join("podinfo/Chart.yaml")).unwrap();
    assert!(chart_yaml.contains("version: 1.10.0"), "{chart_yaml}");
    let values = std::fs::read_to_string(newest.path.join("podinfo/values.yaml")).unwrap();
    assert_eq!(values, "value: \"v1.10.0\"\n");

    let exact = fetcher
        .fetch_chart(&chart(&repo, "podinfo", "1.2.0"))
        .await
        .unwrap();
    assert_eq!(exact.revision.name(), Some("1.2.0"));
    let prerelease = fetcher
        .fetch_chart(&chart(&repo, "podinfo", "~1.11.0-0"))
        .await
        .unwrap();
    assert_eq!(prerelease.revision.name(), Some("1.11.0-rc.1"));
    let latest = fetcher
        .fetch_chart(&chart(&repo, "podinfo", ""))
        .await
        .unwrap();
    assert_eq!(latest.revision.name(), Some("2.0.0"));

    // The index is an artifact of its own, revision = its digest.
    let index = fetcher.fetch_index(&repo).await.unwrap();
    let index_file = charts.repo_dir().join("index.yaml");
    assert_eq!(
        index.revision.to_string(),
        format!("sha256:{}", sha256_hex(&index_file))
    );
    assert_eq!(
        std::fs::read(index.path.join("index.yaml")).unwrap(),
        std::fs::read(&index_file).unwrap()
    );
    // An unchanged package is downloaded again but not unpacked again.
    let again = fetcher
        .fetch_chart(&chart(&repo, "podinfo", "1.x"))
        .await
        .unwrap();
    assert_eq!(again, newest);
    assert_eq!(server.hits("/podinfo-1.10.0.tgz"), 2);
}

#[tokio::test]
async fn absolute_package_urls_and_https_with_a_custom_ca() {
    let ca = TestCa::generate().unwrap();
    let charts = HelmCharts::new().unwrap();
    charts.package("app", "0.3.1", "x").unwrap();
    let server = HelmRepoServer::start_tls(&charts.repo_dir(), None, &ca)
        .await
        .unwrap();
    charts.index(Some(&format!("{}/", server.url()))).unwrap();
    let index = std::fs::read_to_string(charts.repo_dir().join("index.yaml")).unwrap();
    assert!(
        index.contains(&format!("{}/app-0.3.1.tgz", server.url())),
        "{index}"
    );

    let dir = tempfile::tempdir().unwrap();
    let fetcher = HelmFetcher::new(store(&dir));
    let trusted = HelmRepositorySource {
        ca_cert: Some(ca.ca_pem().to_owned()),
        ..repository(&server.url())
    };
    let artifact = fetcher
        .fetch_chart(&chart(&trusted, "app", "~0.3"))
        .await
        .unwrap();
    assert_eq!(artifact.revision.name(), Some("0.3.1"));
    let untrusted = fetcher
        .fetch_chart(&chart(&repository(&server.url()), "app", "~0.3"))
        .await
        .unwrap_err();
    assert!(
        matches!(untrusted, SourceError::Fetch { .. }),
        "{untrusted:?}"
    );
    assert_eq!(untrusted.reason(), "ChartPullFailed");
    let index = fetcher
        .fetch_index(&repository(&server.url()))
        .await
        .unwrap_err();
    assert_eq!(index.reason(), "IndexationFailed", "{index:?}");
}

#[tokio::test]
async fn a_corrupted_chart_fails_its_digest_check_and_stores_nothing() {
    let charts = HelmCharts::new().unwrap();
    let tgz = charts.package("podinfo", "6.0.0", "good").unwrap();
    charts.index(None).unwrap();
    // Replace the package after indexing: still a valid chart, but not the indexed one.
    let other = charts.package("podinfo", "6.0.1", "evil").unwrap();
    std::fs::copy(&other, &tgz).unwrap();
    let server = HelmRepoServer::start(&charts.repo_dir(), None)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fetcher = HelmFetcher::new(store(&dir));

    let err = fetcher
        .fetch_chart(&chart(&repository(&server.url()), "podinfo", "6.0.0"))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Fetch { .. }), "{err:?}");
    assert!(err.to_string().contains("failed its digest check"), "{err}");
    assert!(
        err.to_string().contains("\"podinfo\" version \"6.0.0\""),
        "{err}"
    );
    assert_eq!(err.reason(), "ChartPullFailed");
    assert_eq!(artifacts(&dir), 0);
}

#[tokio::test]
async fn wrong_password_is_an_authentication_failure() {
    let (_charts, server) = podinfo_repo(Some(("flux", "s3cret"))).await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = HelmFetcher::new(store(&dir));
    let with = |credentials: Credentials| HelmRepositorySource {
        credentials,
        ..repository(&server.url())
    };

    let good = fetcher
        .fetch_chart(&chart(
            &with(Credentials::basic("flux", "s3cret")),
            "podinfo",
            "1.0.0",
        ))
        .await
        .unwrap();
    assert_eq!(good.revision.name(), Some("1.0.0"));
    for credentials in [
        Credentials::basic("flux", "wrong-password"),
        Credentials::Anonymous,
    ] {
        let err = fetcher.fetch_index(&with(credentials)).await.unwrap_err();
        assert!(matches!(err, SourceError::Authentication { .. }), "{err:?}");
        assert_eq!(err.reason(), "AuthenticationFailed");
        assert!(!format!("{err} {err:?}").contains("wrong-password"));
    }
}

#[tokio::test]
async fn credentials_reach_another_host_only_with_pass_credentials() {
    let charts = HelmCharts::new().unwrap();
    charts.package("podinfo", "1.0.0", "x").unwrap();
    let auth = Some(("flux", "s3cret"));
    let index_host = HelmRepoServer::start(&charts.repo_dir(), auth)
        .await
        .unwrap();
    let package_host = HelmRepoServer::start(&charts.repo_dir(), auth)
        .await
        .unwrap();
    // The index on one origin lists packages on another (another port).
    charts.index(Some(&package_host.url())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fetcher = HelmFetcher::new(store(&dir));
    let repo = |pass_credentials: bool| HelmRepositorySource {
        credentials: Credentials::basic("flux", "s3cret"),
        pass_credentials,
        ..repository(&index_host.url())
    };

    let withheld = fetcher
        .fetch_chart(&chart(&repo(false), "podinfo", "1.0.0"))
        .await
        .unwrap_err();
    assert!(
        matches!(withheld, SourceError::Authentication { .. }),
        "{withheld:?}"
    );
    assert!(
        withheld.to_string().contains(&package_host.url()),
        "{withheld}"
    );
    let passed = fetcher
        .fetch_chart(&chart(&repo(true), "podinfo", "1.0.0"))
        .await
        .unwrap();
    assert_eq!(passed.revision.name(), Some("1.0.0"));
    assert_eq!(package_host.hits("/podinfo-1.0.0.tgz"), 1);
}

#[tokio::test]
async fn a_missing_chart_or_version_is_named() {
    let (_charts, server) = podinfo_repo(None).await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = HelmFetcher::new(store(&dir));
    let repo = repository(&server.url());

    let no_chart = fetcher
        .fetch_chart(&chart(&repo, "nginx", "*"))
        .await
        .unwrap_err();
    assert!(
        matches!(no_chart, SourceError::RefNotFound { .. }),
        "{no_chart:?}"
    );
    assert_eq!(
        no_chart.to_string(),
        format!("chart \"nginx\" not found in {}", server.url())
    );
    let no_version = fetcher
        .fetch_chart(&chart(&repo, "podinfo", "9.x"))
        .await
        .unwrap_err();
    assert!(
        no_version
            .to_string()
            .contains("chart \"podinfo\" version \"9.x\" not found"),
        "{no_version}"
    );
    assert_eq!(no_version.reason(), "ChartPullFailed");
    let no_repo = fetcher
        .fetch_index(&repository(&format!("{}/missing", server.url())))
        .await
        .unwrap_err();
    assert!(
        no_repo.to_string().starts_with("index.yaml not found"),
        "{no_repo}"
    );
    assert_eq!(no_repo.reason(), "IndexationFailed");
}

#[tokio::test]
async fn an_unresponsive_host_times_out_within_the_timeout() {
    let silent = SilentServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fetcher = HelmFetcher::new(store(&dir));
    let repo = HelmRepositorySource {
        timeout: Duration::from_secs(2),
        ..repository(&format!("http://{}", silent.addr()))
    };
    let started = Instant::now();
    let err = fetcher
        .fetch_chart(&chart(&repo, "podinfo", "*"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Timeout { seconds: 2, .. }),
        "{err:?}"
    );
    assert_eq!(err.reason(), "ChartPullFailed");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn concurrent_fetches_of_the_same_chart_share_one_download() {
    let (_charts, server) = podinfo_repo(None).await;
    let dir = tempfile::tempdir().unwrap();
    let sources = Sources::new(store(&dir), dir.path().join("cache"));
    let spec = SourceSpec::HelmChart(chart(&repository(&server.url()), "podinfo", "1.x"));
    let same = spec.clone();

    let (a, b) = tokio::join!(sources.fetch(&spec), sources.fetch(&same));
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(server.hits("/index.yaml"), 1);
    assert_eq!(server.hits("/podinfo-1.0.0.tgz"), 1);
}
