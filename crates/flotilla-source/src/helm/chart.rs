//! Pulling a chart: resolving its version, downloading its package over HTTP (verified
//! against the index) or from an OCI registry, and storing it unpacked.

use flotilla_api::revision::Revision;

use super::download::{Downloader, Get};
use super::{
    CHART_LAYER_MEDIA_TYPE, ChartVersion, HelmChartSource, HelmFetcher, MAX_CHART_BYTES, sha256,
};
use crate::archive;
use crate::credentials::Credentials;
use crate::error::{Operation, SourceError, bounded};
use crate::oci::registry::{Connect, Registry, Repository};
use crate::store::Artifact;
use crate::version_range::VersionRange;

impl HelmFetcher {
    /// Resolves `chart`'s version, downloads and verifies its package and stores it
    /// unpacked, revision `<version>@sha256:<digest of the package>`.
    pub async fn fetch_chart(&self, chart: &HelmChartSource) -> Result<Artifact, SourceError> {
        chart.repository.check_url()?;
        if chart.chart.is_empty() || chart.chart.contains('/') || chart.chart.contains("..") {
            return Err(SourceError::InvalidSpec(format!(
                "chart name {:?} must be a plain name",
                chart.chart
            )));
        }
        let work = async {
            let (version, package) = if chart.repository.is_oci() {
                self.pull_oci_chart(chart).await?
            } else {
                self.download_chart(chart).await?
            };
            let digest = sha256(&package);
            let revision = Revision::named(version, digest)
                .map_err(|e| SourceError::InvalidSpec(e.to_string()))?;
            let key = chart.dedupe_key();
            if let Some(previous) = self.charts.get(&key)
                && previous.reusable_for(&revision)
            {
                return Ok(previous);
            }
            let store = self.store.clone();
            let what = chart.describe();
            let artifact = tokio::task::spawn_blocking(move || {
                let mut writer = store.writer()?;
                archive::unpack(&package, &what, None, &mut writer)?;
                writer.finish(revision)
            })
            .await
            .map_err(|e| SourceError::Rejected(format!("storing the chart failed: {e}")))??;
            self.charts.insert(key, artifact.clone());
            Ok(artifact)
        };
        let url = || chart.repository.shown_url();
        bounded(chart.repository.timeout, Operation::HelmChart, url, work).await
    }

    /// Resolves the chart in the index and downloads its package, checking its digest.
    async fn download_chart(
        &self,
        chart: &HelmChartSource,
    ) -> Result<(String, Vec<u8>), SourceError> {
        let repository = &chart.repository;
        let (_, cached) = self
            .download_index(repository, Operation::HelmChart)
            .await?;
        let shown_repo = repository.shown_url();
        let entry: &ChartVersion =
            cached
                .index
                .resolve(&chart.chart, &chart.version, &shown_repo)?;
        let fail = |message: String| SourceError::Fetch {
            operation: Operation::HelmChart,
            url: shown_repo.clone(),
            message,
        };
        let what = format!(
            "package of chart {:?} version {:?}",
            entry.name, entry.version
        );
        let first = entry
            .urls
            .first()
            .ok_or_else(|| fail(format!("the index lists no URL for the {what}")))?;
        let base = reqwest::Url::parse(&repository.url)
            .map_err(|e| SourceError::InvalidSpec(format!("url {shown_repo:?} is invalid: {e}")))?;
        let package_url = resolve_reference(&base, first).map_err(|e| {
            fail(format!(
                "the index lists an invalid URL for the {what}: {e}"
            ))
        })?;
        let same_host = package_url.host_str() == base.host_str()
            && package_url.port_or_known_default() == base.port_or_known_default();
        let credentials = if same_host || repository.pass_credentials {
            &repository.credentials
        } else {
            &Credentials::Anonymous
        };
        let downloader = Downloader::new(repository.ca_cert.as_deref(), repository.timeout)?;
        let shown_package = crate::git::redact_url(package_url.as_str());
        let package = downloader
            .get(&Get {
                url: package_url.as_str(),
                shown_url: &shown_package,
                credentials,
                operation: Operation::HelmChart,
                what: &what,
                max_bytes: MAX_CHART_BYTES.min(self.store.limits().max_bytes),
            })
            .await?;
        if let Some(expected) = entry.digest.as_deref().filter(|d| !d.is_empty()) {
            let actual = sha256(&package);
            let expected = expected.strip_prefix("sha256:").unwrap_or(expected);
            if actual.hex() != expected.to_ascii_lowercase() {
                return Err(SourceError::Fetch {
                    operation: Operation::HelmChart,
                    url: shown_package,
                    message: format!(
                        "the {what} failed its digest check: the index says sha256:{expected}, the download is {actual}"
                    ),
                });
            }
        }
        Ok((entry.version.clone(), package))
    }

    /// Pulls the chart from an OCI registry: `<url>/<chart>:<version>`, the version picked
    /// from the registry's tags unless it is exact (Helm stores `+` as `_` in tags).
    async fn pull_oci_chart(
        &self,
        chart: &HelmChartSource,
    ) -> Result<(String, Vec<u8>), SourceError> {
        let source = &chart.repository;
        let repository = Repository::parse(&source.url)?.child(&chart.chart);
        let registry = Registry::new(Connect {
            credentials: &source.credentials,
            ca_cert: source.ca_cert.as_deref(),
            insecure: source.insecure,
            timeout: source.timeout,
            operation: Operation::HelmChart,
        });
        let range = VersionRange::parse(&chart.version)?;
        let version = match range.exact() {
            Some(exact) => exact.to_string(),
            None => {
                let tags = registry.tags(&repository).await?;
                let versions = tags.iter().filter_map(|tag| {
                    let version = crate::version_range::parse_version(&tag.replace('_', "+"))?;
                    Some((version, tag.as_str()))
                });
                let (version, _) =
                    range
                        .pick(versions)
                        .ok_or_else(|| SourceError::RefNotFound {
                            operation: Operation::HelmChart,
                            url: repository.url(),
                            reference: chart.describe(),
                        })?;
                version.to_string()
            }
        };
        let reference = repository.with_tag(&version.replace('+', "_"));
        let what = chart.describe();
        let (manifest, _) = registry.manifest(&repository, &reference, &what).await?;
        let layer = crate::oci::select_layer(&manifest.layers, Some(CHART_LAYER_MEDIA_TYPE))
            .ok_or_else(|| SourceError::Fetch {
                operation: Operation::HelmChart,
                url: repository.url(),
                message: format!("{what} is not a Helm chart (no {CHART_LAYER_MEDIA_TYPE} layer)"),
            })?;
        let max = MAX_CHART_BYTES.min(self.store.limits().max_bytes);
        let package = registry.blob(&repository, &reference, layer, max).await?;
        Ok((version, package))
    }
}

/// Helm's `ResolveReferenceURL`: an absolute `reference` as is, else relative to `base`
/// taken as a directory; the base's query string is kept.
fn resolve_reference(base: &reqwest::Url, reference: &str) -> Result<reqwest::Url, String> {
    if let Ok(absolute) = reqwest::Url::parse(reference) {
        return Ok(absolute);
    }
    let mut dir = base.clone();
    dir.set_path(&format!("{}/", base.path().trim_end_matches('/')));
    let mut resolved = dir.join(reference).map_err(|e| e.to_string())?;
    resolved.set_query(base.query());
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_urls_resolve_like_helm() {
        let base = reqwest::Url::parse("https://charts.example/sub/repo?token=x").unwrap();
        let r = |u: &str| resolve_reference(&base, u).unwrap().to_string();
        assert_eq!(
            r("a-1.0.0.tgz"),
            "https://charts.example/sub/repo/a-1.0.0.tgz?token=x"
        );
        assert_eq!(
            r("charts/a.tgz"),
            "https://charts.example/sub/repo/charts/a.tgz?token=x"
        );
        assert_eq!(r("https://cdn.example/a.tgz"), "https://cdn.example/a.tgz");
        assert_eq!(
            r("/root/a.tgz"),
            "https://charts.example/root/a.tgz?token=x"
        );
    }
}
