//! OCIRepository sources: an OCI artifact in a registry, pulled with oci-client.
//!
//! [`OciFetcher::fetch`] resolves an [`OciSource`]'s ref (Flux's precedence: `digest` >
//! `semver` > `tag`, the `latest` tag when none is set), reads the image manifest, selects a
//! layer (by media type, else the first), pulls it and either unpacks it (`extract`, the
//! default: a tarball, gzip-compressed or not) or stores it as one file (`copy`). The
//! revision is Flux's: `<tag>@sha256:<manifest digest>`, or `sha256:<manifest digest>` for a
//! digest ref. A source whose ref still resolves to the manifest of its previous artifact
//! gets that artifact back without pulling the layer again.
//!
//! Not yet supported: `provider` (aws, azure, gcp), `certSecretRef` client certificates,
//! `proxySecretRef` and `verify`.

pub(crate) mod registry;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flotilla_api::common::CloudProvider;
use flotilla_api::revision::{Digest, Revision};
use flotilla_api::source::{LayerOperation, OCIRepositorySpec};
use oci_client::manifest::OciDescriptor;

use crate::archive;
use crate::credentials::Credentials;
use crate::error::{Operation, SourceError, bounded};
use crate::ignore::IgnoreRules;
use crate::store::{Artifact, ArtifactStore, LastBySource};
use crate::version_range::{VersionRange, parse_version};
use registry::{Connect, Registry, Repository};

/// Flux's default timeout of registry operations.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Which version of the artifact to pull.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OciTarget {
    /// A manifest digest, `sha256:<hex>`.
    Digest(String),
    /// The highest tag satisfying a version constraint (Flux/Masterminds syntax), among the
    /// tags matching an optional regular expression.
    Semver {
        /// The constraint.
        range: String,
        /// `semverFilter`: only tags matching it are considered.
        filter: Option<String>,
    },
    /// A tag.
    Tag(String),
}

impl OciTarget {
    /// Applies Flux's precedence to an OCIRepository's `spec.ref`.
    pub fn from_ref(
        reference: Option<&flotilla_api::source::OCIRepositoryRef>,
    ) -> Result<Self, SourceError> {
        let set = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        let Some(r) = reference else {
            return Ok(Self::Tag("latest".into()));
        };
        if let Some(digest) = set(&r.digest) {
            digest.parse::<Digest>().map_err(|e| {
                SourceError::InvalidSpec(format!("digest {digest:?} is invalid: {e}"))
            })?;
            return Ok(Self::Digest(digest));
        }
        if let Some(range) = set(&r.semver) {
            VersionRange::parse(&range)?;
            let filter = set(&r.semver_filter);
            if let Some(filter) = &filter {
                regex::Regex::new(filter).map_err(|e| {
                    SourceError::InvalidSpec(format!("semverFilter {filter:?} is invalid: {e}"))
                })?;
            }
            return Ok(Self::Semver { range, filter });
        }
        Ok(Self::Tag(set(&r.tag).unwrap_or_else(|| "latest".into())))
    }

    /// How the target is named in messages, e.g. `tag "v1"`.
    pub fn describe(&self) -> String {
        match self {
            Self::Digest(d) => format!("digest {d}"),
            Self::Semver { range, .. } => format!("a tag matching semver {range:?}"),
            Self::Tag(t) => format!("tag {t:?}"),
        }
    }
}

/// Which layer becomes the artifact and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerSelection {
    /// The layer's media type; the first layer when `None`.
    pub media_type: Option<String>,
    /// Unpack it or keep it as one file.
    pub operation: LayerOperation,
}

/// Everything needed to fetch one OCI artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciSource {
    /// `oci://host[:port]/repository`.
    pub url: String,
    /// What to pull.
    pub target: OciTarget,
    /// Registry credentials (from the Secret).
    pub credentials: Credentials,
    /// PEM certificates trusted besides the system's.
    pub ca_cert: Option<String>,
    /// Plain HTTP to the registry.
    pub insecure: bool,
    /// The layer to publish.
    pub layer: LayerSelection,
    /// `.gitignore`-style exclusions applied when extracting (`spec.ignore`).
    pub ignore: Option<String>,
    /// Bound on the whole fetch and on each request.
    pub timeout: Duration,
}

impl OciSource {
    /// The source an `OCIRepository` spec describes, with the credentials and CA the caller
    /// read from its Secrets ([`Credentials::from_secret_data`]).
    pub fn from_spec(
        spec: &OCIRepositorySpec,
        credentials: Credentials,
        ca_cert: Option<String>,
    ) -> Result<Self, SourceError> {
        Repository::parse(&spec.url)?;
        refuse_unsupported(spec.provider, spec.proxy_secret_ref.is_some())?;
        let selector = spec.layer_selector.clone().unwrap_or_default();
        Ok(Self {
            url: spec.url.clone(),
            target: OciTarget::from_ref(spec.reference.as_ref())?,
            credentials,
            ca_cert,
            insecure: spec.insecure,
            layer: LayerSelection {
                media_type: selector.media_type.filter(|m| !m.is_empty()),
                operation: selector.operation.unwrap_or_default(),
            },
            ignore: spec.ignore.clone(),
            timeout: spec.timeout.map_or(DEFAULT_TIMEOUT, Duration::from),
        })
    }

    /// A key identifying what this source fetches: sources with equal keys get the same
    /// artifact, so one fetch serves them all. Credentials take part only as a digest.
    pub fn dedupe_key(&self) -> String {
        format!(
            "oci\0{}\0{:?}\0{:?}\0{}\0{}\0{}\0{}",
            self.url,
            self.target,
            self.layer,
            self.ignore.as_deref().unwrap_or(""),
            self.credentials.fingerprint(),
            self.ca_cert.as_deref().unwrap_or(""),
            self.insecure
        )
    }
}

/// Pulls OCI artifacts into an [`ArtifactStore`].
#[derive(Debug)]
pub struct OciFetcher {
    store: ArtifactStore,
    /// Each source's last artifact, by [`OciSource::dedupe_key`].
    published: LastBySource<Artifact>,
    layer_pulls: AtomicU64,
}

impl OciFetcher {
    /// A fetcher writing into `store`.
    pub fn new(store: ArtifactStore) -> Self {
        Self {
            store,
            published: LastBySource::default(),
            layer_pulls: AtomicU64::new(0),
        }
    }

    /// How many layers were pulled so far (a fetch that finds its previous manifest pulls
    /// none).
    pub fn layer_pulls(&self) -> u64 {
        self.layer_pulls.load(Ordering::Relaxed)
    }

    /// Forgets the remembered artifacts of every source whose key is not in `live`.
    pub(crate) fn retain(&self, live: &std::collections::HashSet<String>) {
        self.published.retain(live);
    }

    /// Fetches `source` and stores the selected layer, within `source.timeout`.
    pub async fn fetch(&self, source: &OciSource) -> Result<Artifact, SourceError> {
        let repository = Repository::parse(&source.url)?;
        let work = self.fetch_inner(source, &repository);
        bounded(source.timeout, Operation::Oci, || repository.url(), work).await
    }

    async fn fetch_inner(
        &self,
        source: &OciSource,
        repository: &Repository,
    ) -> Result<Artifact, SourceError> {
        let registry = Registry::new(Connect {
            credentials: &source.credentials,
            ca_cert: source.ca_cert.as_deref(),
            insecure: source.insecure,
            timeout: source.timeout,
            operation: Operation::Oci,
        });
        let (reference, tag) = match &source.target {
            OciTarget::Digest(digest) => (repository.with_digest(digest), None),
            OciTarget::Tag(tag) => (repository.with_tag(tag), Some(tag.clone())),
            OciTarget::Semver { range, filter } => {
                let tag = pick_tag(&registry, repository, range, filter.as_deref()).await?;
                (repository.with_tag(&tag), Some(tag))
            }
        };
        let (manifest, manifest_digest) = registry
            .manifest(repository, &reference, &source.target.describe())
            .await?;
        let digest: Digest = manifest_digest.parse().map_err(|e| SourceError::Fetch {
            operation: Operation::Oci,
            url: repository.url(),
            message: format!("the registry returned an invalid manifest digest: {e}"),
        })?;
        let revision = match tag {
            Some(tag) => {
                Revision::named(tag, digest).map_err(|e| SourceError::InvalidSpec(e.to_string()))?
            }
            None => Revision::digest_only(digest),
        };
        let key = source.dedupe_key();
        if let Some(previous) = self.published.get(&key)
            && previous.reusable_for(&revision)
        {
            return Ok(previous);
        }
        let layer = select_layer(&manifest.layers, source.layer.media_type.as_deref()).ok_or_else(
            || SourceError::Fetch {
                operation: Operation::Oci,
                url: repository.url(),
                message: match &source.layer.media_type {
                    Some(m) => format!("{revision} has no layer of media type {m:?}"),
                    None => format!("{revision} has no layers"),
                },
            },
        )?;
        let blob = registry
            .blob(repository, &reference, layer, self.store.limits().max_bytes)
            .await?;
        self.layer_pulls.fetch_add(1, Ordering::Relaxed);
        let store = self.store.clone();
        let (selection, ignore, layer) =
            (source.layer.clone(), source.ignore.clone(), layer.clone());
        let what = format!("layer {} of {}", layer.digest, repository.url());
        // Unpacking and digesting touch the disk: keep them off the async workers.
        let artifact = tokio::task::spawn_blocking(move || {
            let mut writer = store.writer()?;
            match selection.operation {
                LayerOperation::Extract => {
                    let rules = IgnoreRules::new(ignore.as_deref());
                    archive::unpack(&blob, &what, Some(&rules), &mut writer)?;
                }
                LayerOperation::Copy => {
                    writer.add_file(copy_name(&layer).as_bytes(), false, &blob)?;
                }
            }
            writer.finish(revision)
        })
        .await
        .map_err(|e| SourceError::Rejected(format!("storing the layer failed: {e}")))??;
        tracing::debug!(url = %repository.url(), revision = %artifact.revision,
            digest = %artifact.digest, "pulled OCI artifact");
        self.published.insert(key, artifact.clone());
        Ok(artifact)
    }
}

/// Refuses what a spec may ask for that is not implemented, rather than fetching without it:
/// cloud providers' credential flows and proxies.
pub(crate) fn refuse_unsupported(
    provider: Option<CloudProvider>,
    proxy: bool,
) -> Result<(), SourceError> {
    if let Some(provider) = provider.filter(|p| *p != CloudProvider::Generic) {
        return Err(SourceError::InvalidSpec(format!(
            "provider {provider:?} is not supported; use 'generic' with a secretRef"
        )));
    }
    if proxy {
        return Err(SourceError::InvalidSpec(
            "proxySecretRef is not supported".into(),
        ));
    }
    Ok(())
}

/// The highest tag of `repository` satisfying `range` (tags may carry a leading `v`), among
/// those matching `filter`.
pub(crate) async fn pick_tag(
    registry: &Registry,
    repository: &Repository,
    range: &str,
    filter: Option<&str>,
) -> Result<String, SourceError> {
    let constraint = VersionRange::parse(range)?;
    let filter = filter
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| SourceError::InvalidSpec(format!("semverFilter is invalid: {e}")))?;
    let tags = registry.tags(repository).await?;
    let candidates = tags
        .iter()
        .filter(|tag| filter.as_ref().is_none_or(|f| f.is_match(tag)))
        .filter_map(|tag| Some((parse_version(tag)?, tag.as_str())));
    constraint
        .pick(candidates)
        .map(|(_, tag)| tag.to_owned())
        .ok_or_else(|| SourceError::RefNotFound {
            operation: Operation::Oci,
            url: repository.url(),
            reference: format!("a tag matching semver {range:?}"),
        })
}

/// The first layer, or the first of `media_type`.
pub(crate) fn select_layer<'a>(
    layers: &'a [OciDescriptor],
    media_type: Option<&str>,
) -> Option<&'a OciDescriptor> {
    match media_type {
        Some(m) => layers.iter().find(|l| l.media_type == m),
        None => layers.first(),
    }
}

/// The file name a copied layer gets: its `org.opencontainers.image.title` when that is a
/// plain file name, else `layer.tar.gz` (or `layer` for non-tarballs).
fn copy_name(layer: &OciDescriptor) -> String {
    let title = layer
        .annotations
        .as_ref()
        .and_then(|a| a.get("org.opencontainers.image.title"))
        .filter(|t| !t.is_empty() && !t.contains('/') && *t != "." && *t != "..");
    match title {
        Some(title) => title.clone(),
        None if layer.media_type.ends_with("tar+gzip") => "layer.tar.gz".into(),
        None => "layer".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::source::OCIRepositoryRef;

    #[test]
    fn flux_precedence_and_defaults() {
        let all = OCIRepositoryRef {
            digest: Some(format!("sha256:{}", "a".repeat(64))),
            semver: Some(">=1".into()),
            semver_filter: Some("^v".into()),
            tag: Some("v1".into()),
        };
        assert!(matches!(
            OciTarget::from_ref(Some(&all)).unwrap(),
            OciTarget::Digest(_)
        ));
        let no_digest = OCIRepositoryRef {
            digest: None,
            ..all.clone()
        };
        assert_eq!(
            OciTarget::from_ref(Some(&no_digest)).unwrap(),
            OciTarget::Semver {
                range: ">=1".into(),
                filter: Some("^v".into())
            }
        );
        let tag_only = OCIRepositoryRef {
            tag: Some("v1".into()),
            ..Default::default()
        };
        assert_eq!(
            OciTarget::from_ref(Some(&tag_only)).unwrap(),
            OciTarget::Tag("v1".into())
        );
        assert_eq!(
            OciTarget::from_ref(None).unwrap(),
            OciTarget::Tag("latest".into())
        );
        let bad_digest = OCIRepositoryRef {
            digest: Some("sha256:xyz".into()),
            ..Default::default()
        };
        assert!(OciTarget::from_ref(Some(&bad_digest)).is_err());
        let bad_filter = OCIRepositoryRef {
            semver: Some("*".into()),
            semver_filter: Some("(".into()),
            ..Default::default()
        };
        assert!(OciTarget::from_ref(Some(&bad_filter)).is_err());
    }

    #[test]
    fn source_from_an_ocirepository_spec() {
        let spec = |extra: serde_json::Value| -> OCIRepositorySpec {
            let mut base = serde_json::json!({
                "url": "oci://registry.example/fleet/app",
                "interval": "5m",
                "timeout": "20s",
                "ref": {"semver": "1.x"},
                "layerSelector": {"mediaType": "application/x-tar", "operation": "copy"},
                "insecure": true,
            });
            base.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            serde_json::from_value(base).unwrap()
        };
        let source =
            OciSource::from_spec(&spec(serde_json::json!({})), Credentials::Anonymous, None)
                .unwrap();
        assert_eq!(source.timeout, Duration::from_secs(20));
        assert_eq!(source.layer.operation, LayerOperation::Copy);
        assert_eq!(
            source.layer.media_type.as_deref(),
            Some("application/x-tar")
        );
        assert!(source.insecure);
        let mut other = source.clone();
        other.credentials = Credentials::basic("u", "s3cr3t");
        assert_ne!(source.dedupe_key(), other.dedupe_key());
        assert!(!other.dedupe_key().contains("s3cr3t"));
        for refused in [
            serde_json::json!({"provider": "aws"}),
            serde_json::json!({"proxySecretRef": {"name": "proxy"}}),
            serde_json::json!({"url": "oci://registry.example/app:v1"}),
        ] {
            let err = OciSource::from_spec(&spec(refused.clone()), Credentials::Anonymous, None);
            assert!(
                matches!(err, Err(SourceError::InvalidSpec(_))),
                "{refused}: {err:?}"
            );
        }
    }
}
