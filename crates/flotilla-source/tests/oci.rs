//! OCIRepository and Helm OCI charts against a real registry on loopback (Debian's
//! `docker-registry`), with artifacts pushed by the test itself through oci-client and
//! charts pushed by the real `helm push`. Skipped, with a message, where the registry is not
//! installed (never under CI, which installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use flotilla_api::source::LayerOperation;
use flotilla_source::helm::{HelmChartSource, HelmFetcher, HelmRepositorySource};
use flotilla_source::oci::{LayerSelection, OciFetcher, OciSource, OciTarget};
use flotilla_source::{ArtifactStore, Credentials, Limits, SourceError, SourceSpec, Sources};
use flotilla_testkit::git::SilentServer;
use flotilla_testkit::helm::HelmCharts;
use flotilla_testkit::registry::Registry;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

const FLUX_LAYER: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

/// One tarball entry: a file, or a symlink when `link` is set. The name is written into
/// the header verbatim, so tests can craft names a tar tool would refuse.
struct Entry<'a> {
    name: &'a str,
    contents: &'a [u8],
    link: Option<&'a str>,
}

fn file<'a>(name: &'a str, contents: &'a str) -> Entry<'a> {
    Entry {
        name,
        contents: contents.as_bytes(),
        link: None,
    }
}

fn targz(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for entry in entries {
        let mut header = tar::Header::new_old();
        let name = &mut header.as_old_mut().name;
        name[..entry.name.len()].copy_from_slice(entry.name.as_bytes());
        header.set_mode(0o644);
        match entry.link {
            Some(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
                header.set_size(0);
            }
            None => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(entry.contents.len() as u64);
            }
        }
        header.set_cksum();
        builder.append(&header, entry.contents).unwrap();
    }
    let mut gz = builder.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

fn client() -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    })
}

/// Pushes an artifact with `layers` (bytes, media type) to `repository:tag` and returns
/// the manifest digest.
async fn push(
    registry: &Registry,
    auth: &RegistryAuth,
    repository: &str,
    tag: &str,
    layers: Vec<(Vec<u8>, &str)>,
) -> String {
    let reference: Reference = format!("{}/{repository}:{tag}", registry.host())
        .parse()
        .unwrap();
    let layers: Vec<ImageLayer> = layers
        .into_iter()
        .map(|(data, media_type)| ImageLayer::new(data, media_type.to_owned(), None))
        .collect();
    let config = Config::new(
        b"{}".to_vec(),
        "application/vnd.cncf.flux.config.v1+json".into(),
        None,
    );
    let client = client();
    client
        .push(&reference, &layers, config, auth, None)
        .await
        .unwrap();
    client
        .fetch_manifest_digest(&reference, auth)
        .await
        .unwrap()
}

fn source(registry: &Registry, repository: &str, target: OciTarget) -> OciSource {
    OciSource {
        url: registry.url(repository),
        target,
        credentials: Credentials::Anonymous,
        ca_cert: None,
        insecure: true,
        layer: LayerSelection::default(),
        ignore: None,
        timeout: Duration::from_secs(30),
    }
}

fn fetcher(dir: &TempDir) -> OciFetcher {
    OciFetcher::new(ArtifactStore::open(dir.path().join("store"), Limits::default()).unwrap())
}

fn tag(t: &str) -> OciTarget {
    OciTarget::Tag(t.into())
}

fn semver(range: &str) -> OciTarget {
    OciTarget::Semver {
        range: range.into(),
        filter: None,
    }
}

#[tokio::test]
async fn tags_semver_and_digests_resolve_with_flux_revisions() {
    let Some(registry) = Registry::start_or_skip(None).unwrap() else {
        return;
    };
    let auth = RegistryAuth::Anonymous;
    let mut digests = BTreeMap::new();
    for version in ["v1.0.0", "v1.1.0", "v2.0.0-rc.1", "latest"] {
        let layer = targz(&[file("deploy/app.yaml", &format!("version: {version}\n"))]);
        let digest = push(
            &registry,
            &auth,
            "fleet/app",
            version,
            vec![(layer, FLUX_LAYER)],
        )
        .await;
        digests.insert(version, digest);
    }
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    let read = |a: &flotilla_source::Artifact| {
        std::fs::read_to_string(a.path.join("deploy/app.yaml")).unwrap()
    };

    let by_tag = fetcher
        .fetch(&source(&registry, "fleet/app", tag("v1.0.0")))
        .await
        .unwrap();
    assert_eq!(
        by_tag.revision.to_string(),
        format!("v1.0.0@{}", digests["v1.0.0"])
    );
    assert_eq!(read(&by_tag), "version: v1.0.0\n");

    let by_range = fetcher
        .fetch(&source(&registry, "fleet/app", semver("^1")))
        .await
        .unwrap();
    assert_eq!(
        by_range.revision.to_string(),
        format!("v1.1.0@{}", digests["v1.1.0"])
    );
    let pre = fetcher
        .fetch(&source(&registry, "fleet/app", semver(">=1.1.1-0")))
        .await
        .unwrap();
    assert_eq!(pre.revision.name(), Some("v2.0.0-rc.1"));

    let filtered = OciTarget::Semver {
        range: "*".into(),
        filter: Some(r"^v1\.0\.".into()),
    };
    let by_filter = fetcher
        .fetch(&source(&registry, "fleet/app", filtered))
        .await
        .unwrap();
    assert_eq!(by_filter.revision.name(), Some("v1.0.0"));

    let pinned = OciTarget::Digest(digests["v1.0.0"].clone());
    let by_digest = fetcher
        .fetch(&source(&registry, "fleet/app", pinned))
        .await
        .unwrap();
    assert_eq!(by_digest.revision.to_string(), digests["v1.0.0"]);
    assert_eq!(by_digest.digest, by_tag.digest);

    // The same manifest again: the previous artifact, without pulling the layer.
    let pulls = fetcher.layer_pulls();
    let again = fetcher
        .fetch(&source(&registry, "fleet/app", tag("v1.0.0")))
        .await
        .unwrap();
    assert_eq!(again, by_tag);
    assert_eq!(fetcher.layer_pulls(), pulls);
}

#[tokio::test]
async fn layers_are_selected_by_media_type_and_extracted_or_copied() {
    let Some(registry) = Registry::start_or_skip(None).unwrap() else {
        return;
    };
    let manifests = targz(&[
        file("./apps/a.yaml", "a: 1\n"),
        file("./docs/logo.png", "png"),
        file("./notes.md", "n"),
    ]);
    let layers = vec![
        (
            b"{\"other\": true}".to_vec(),
            "application/vnd.example.meta.v1+json",
        ),
        (manifests.clone(), FLUX_LAYER),
    ];
    push(
        &registry,
        &RegistryAuth::Anonymous,
        "fleet/two",
        "v1",
        layers,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    let select = |operation| OciSource {
        layer: LayerSelection {
            media_type: Some(FLUX_LAYER.into()),
            operation,
        },
        ignore: Some("*.md\n".into()),
        ..source(&registry, "fleet/two", tag("v1"))
    };

    let extracted = fetcher
        .fetch(&select(LayerOperation::Extract))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(extracted.path.join("apps/a.yaml")).unwrap(),
        "a: 1\n"
    );
    // Flux's default exclusions and spec.ignore apply.
    assert!(!extracted.path.join("docs/logo.png").exists());
    assert!(!extracted.path.join("notes.md").exists());
    let copied = fetcher.fetch(&select(LayerOperation::Copy)).await.unwrap();
    assert_eq!(
        std::fs::read(copied.path.join("layer.tar.gz")).unwrap(),
        manifests
    );

    let missing = OciSource {
        layer: LayerSelection {
            media_type: Some("application/x-none".into()),
            operation: LayerOperation::Extract,
        },
        ..source(&registry, "fleet/two", tag("v1"))
    };
    let err = fetcher.fetch(&missing).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no layer of media type \"application/x-none\""),
        "{err}"
    );
    assert_eq!(err.reason(), "OCIArtifactPullFailed");
}

#[tokio::test]
async fn escaping_tarballs_are_rejected_and_nothing_is_written_outside_the_store() {
    let Some(registry) = Registry::start_or_skip(None).unwrap() else {
        return;
    };
    let bad = [
        (
            "dotdot",
            targz(&[file("ok.yaml", "x"), file("../x", "escaped")]),
        ),
        ("absolute", targz(&[file("/tmp/flotilla-abs-x", "escaped")])),
        (
            "symlink",
            targz(&[Entry {
                name: "up",
                contents: b"",
                link: Some("../../.."),
            }]),
        ),
        (
            "through-symlink",
            targz(&[
                Entry {
                    name: "d",
                    contents: b"",
                    link: Some("."),
                },
                file("d/../../x", "e"),
            ]),
        ),
    ];
    for (name, layer) in &bad {
        push(
            &registry,
            &RegistryAuth::Anonymous,
            "fleet/evil",
            name,
            vec![(layer.clone(), FLUX_LAYER)],
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    for (name, _) in &bad {
        let err = fetcher
            .fetch(&source(&registry, "fleet/evil", tag(name)))
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::Rejected(_)), "{name}: {err:?}");
        assert!(!err.to_string().contains("panicked"), "{name}: {err}");
        assert_eq!(err.reason(), "ArtifactFailed");
    }
    // Only the store directory exists next to where `../x` would have gone, and the store
    // holds no artifact and no leftover temporary directory.
    let beside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside, ["store"]);
    assert_eq!(
        std::fs::read_dir(dir.path().join("store")).unwrap().count(),
        0
    );
    assert!(!std::path::Path::new("/tmp/flotilla-abs-x").exists());
}

#[tokio::test]
async fn wrong_password_is_an_authentication_failure_and_a_missing_tag_is_named() {
    let Some(registry) = Registry::start_or_skip(Some(("flux", "s3cret"))).unwrap() else {
        return;
    };
    let auth = RegistryAuth::Basic("flux".into(), "s3cret".into());
    let layer = targz(&[file("a.yaml", "a: 1\n")]);
    push(
        &registry,
        &auth,
        "private/app",
        "v1",
        vec![(layer, FLUX_LAYER)],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    let with = |credentials: Credentials, target: OciTarget| OciSource {
        credentials,
        ..source(&registry, "private/app", target)
    };

    let good = fetcher
        .fetch(&with(Credentials::basic("flux", "s3cret"), tag("v1")))
        .await
        .unwrap();
    assert_eq!(good.revision.name(), Some("v1"));
    for credentials in [
        Credentials::basic("flux", "wrong-password"),
        Credentials::Anonymous,
    ] {
        let err = fetcher
            .fetch(&with(credentials, tag("v1")))
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::Authentication { .. }), "{err:?}");
        assert_eq!(err.reason(), "AuthenticationFailed");
        assert!(!format!("{err} {err:?}").contains("wrong-password"));
    }
    let missing = fetcher
        .fetch(&with(Credentials::basic("flux", "s3cret"), tag("v9")))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, SourceError::RefNotFound { .. }),
        "{missing:?}"
    );
    assert_eq!(
        missing.to_string(),
        format!("tag \"v9\" not found in {}", registry.url("private/app"))
    );
    assert_eq!(missing.reason(), "OCIArtifactPullFailed");
    let no_match = fetcher
        .fetch(&with(Credentials::basic("flux", "s3cret"), semver(">=5")))
        .await
        .unwrap_err();
    assert!(
        no_match
            .to_string()
            .contains("a tag matching semver \">=5\""),
        "{no_match}"
    );
}

#[tokio::test]
async fn an_unresponsive_registry_times_out_within_the_timeout() {
    let silent = SilentServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    let src = OciSource {
        url: format!("oci://{}/fleet/app", silent.addr()),
        target: tag("v1"),
        credentials: Credentials::Anonymous,
        ca_cert: None,
        insecure: true,
        layer: LayerSelection::default(),
        ignore: None,
        timeout: Duration::from_secs(2),
    };
    let started = Instant::now();
    let err = fetcher.fetch(&src).await.unwrap_err();
    assert!(
        matches!(err, SourceError::Timeout { seconds: 2, .. }),
        "{err:?}"
    );
    assert_eq!(err.reason(), "OCIArtifactPullFailed");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_chart_pushed_by_helm_is_pulled_as_an_oci_chart_and_shared() {
    let Some(registry) = Registry::start_or_skip(None).unwrap() else {
        return;
    };
    let charts = HelmCharts::new().unwrap();
    let mut packages = BTreeMap::new();
    for version in ["0.1.0", "0.2.0", "1.0.0+build.7"] {
        let tgz = charts.package("podinfo", version, version).unwrap();
        let target = format!("oci://{}/charts", registry.host());
        charts.push_plain_http(&tgz, &target).unwrap();
        packages.insert(version, std::fs::read(&tgz).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("store"), Limits::default()).unwrap();
    let repository = HelmRepositorySource {
        url: format!("oci://{}/charts", registry.host()),
        credentials: Credentials::Anonymous,
        ca_cert: None,
        pass_credentials: false,
        insecure: true,
        timeout: Duration::from_secs(30),
    };
    let chart = |version: &str| HelmChartSource {
        repository: repository.clone(),
        chart: "podinfo".into(),
        version: version.into(),
    };
    let sha = |bytes: &[u8]| -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let helm = HelmFetcher::new(store.clone());

    let newest = helm.fetch_chart(&chart("0.x")).await.unwrap();
    assert_eq!(
        newest.revision.to_string(),
        format!("0.2.0@sha256:{}", sha(&packages["0.2.0"]))
    );
    let values = std::fs::read_to_string(newest.path.join("podinfo/values.yaml")).unwrap();
    assert_eq!(values, "value: \"0.2.0\"\n");
    // Build metadata travels as `_` in the tag, as Helm stores it.
    let built = helm.fetch_chart(&chart(">=1")).await.unwrap();
    assert_eq!(built.revision.name(), Some("1.0.0+build.7"));
    let exact = helm.fetch_chart(&chart("0.1.0")).await.unwrap();
    assert_eq!(exact.revision.name(), Some("0.1.0"));
    let missing = helm.fetch_chart(&chart("3.x")).await.unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("chart \"podinfo\" version \"3.x\" not found"),
        "{missing}"
    );

    // Through `Sources`, two equal specs fetched at once resolve to one artifact.
    let sources = Sources::new(store, dir.path().join("cache"));
    let spec = SourceSpec::HelmChart(chart("0.x"));
    let same = spec.clone();
    let (a, b) = tokio::join!(sources.fetch(&spec), sources.fetch(&same));
    assert_eq!(a.unwrap(), b.unwrap());
}
