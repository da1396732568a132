//! A Helm repository's `index.yaml`: which versions of which charts exist and where their
//! packages are.
//!
//! Parsed with serde-saphyr into only the fields Flotilla uses; unknown fields are ignored,
//! as Helm does. Versions that are not semver are skipped when resolving a range, as Helm
//! skips them when it loads an index.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Operation, SourceError};
use crate::version_range::{VersionRange, parse_version};

/// A parsed `index.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexFile {
    /// Always `v1` in practice; required, as Helm requires it.
    pub api_version: String,
    /// Versions of each chart by chart name.
    #[serde(default)]
    pub entries: BTreeMap<String, Vec<ChartVersion>>,
}

/// One version of one chart.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChartVersion {
    /// The chart's name.
    pub name: String,
    /// The chart's version.
    pub version: String,
    /// Where the package (`.tgz`) is: absolute, or relative to the repository URL.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Hex SHA-256 of the package, as `helm repo index` writes it.
    #[serde(default)]
    pub digest: Option<String>,
}

impl IndexFile {
    /// Parses `bytes`; `url` names the index in errors.
    pub fn parse(bytes: &[u8], url: &str) -> Result<Self, SourceError> {
        let index: Self = serde_saphyr::from_slice(bytes).map_err(|e| SourceError::Fetch {
            operation: Operation::HelmIndex,
            url: url.to_owned(),
            message: format!("index.yaml is not a valid Helm repository index: {e}"),
        })?;
        if index.api_version.is_empty() {
            return Err(SourceError::Fetch {
                operation: Operation::HelmIndex,
                url: url.to_owned(),
                message: "index.yaml has no apiVersion".into(),
            });
        }
        Ok(index)
    }

    /// The newest version of `chart` satisfying `constraint` (Helm's rules: an exact version
    /// is looked up as written first; otherwise the highest matching semver, releases only
    /// unless the constraint asks for pre-releases). `url` names the repository in errors.
    pub fn resolve(
        &self,
        chart: &str,
        constraint: &str,
        url: &str,
    ) -> Result<&ChartVersion, SourceError> {
        let not_found = |reference: String| SourceError::RefNotFound {
            operation: Operation::HelmChart,
            url: url.to_owned(),
            reference,
        };
        let versions = self
            .entries
            .get(chart)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| not_found(format!("chart {chart:?}")))?;
        let constraint = constraint.trim();
        if let Some(exact) = versions.iter().find(|v| v.version == constraint) {
            return Ok(exact);
        }
        let range = VersionRange::parse(constraint)?;
        range
            .pick(
                versions
                    .iter()
                    .filter_map(|v| Some((parse_version(&v.version)?, v))),
            )
            .map(|(_, v)| v)
            .ok_or_else(|| {
                let shown = if constraint.is_empty() {
                    "*"
                } else {
                    constraint
                };
                not_found(format!("chart {chart:?} version {shown:?}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"
apiVersion: v1
entries:
  podinfo:
  - name: podinfo
    version: 6.2.0-rc.1
    urls: [podinfo-6.2.0-rc.1.tgz]
    digest: aa
  - name: podinfo
    version: 6.1.0
    urls: [podinfo-6.1.0.tgz]
    digest: bb
    created: "2026-01-01T00:00:00Z"
    annotations: {x: y}
  - name: podinfo
    version: 6.0.3
    urls: ["https://charts.example/podinfo-6.0.3.tgz"]
  - name: podinfo
    version: not-semver
    urls: [odd.tgz]
generated: "2026-01-01T00:00:00Z"
"#;

    #[test]
    fn resolves_ranges_exact_versions_and_prereleases() {
        let index = IndexFile::parse(INDEX.as_bytes(), "http://repo").unwrap();
        let pick = |c: &str| {
            index
                .resolve("podinfo", c, "http://repo")
                .map(|v| v.version.clone())
        };
        assert_eq!(pick("6.x").unwrap(), "6.1.0");
        assert_eq!(pick("").unwrap(), "6.1.0");
        assert_eq!(pick("<6.1").unwrap(), "6.0.3");
        assert_eq!(pick("6.0.3").unwrap(), "6.0.3");
        assert_eq!(pick(">=6.0.0-0").unwrap(), "6.2.0-rc.1");
        assert_eq!(pick("not-semver").unwrap(), "not-semver");
        let missing = pick("7.x").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "chart \"podinfo\" version \"7.x\" not found in http://repo"
        );
        assert_eq!(missing.reason(), "ChartPullFailed");
        let no_chart = index.resolve("nginx", "*", "http://repo").unwrap_err();
        assert!(
            no_chart
                .to_string()
                .starts_with("chart \"nginx\" not found"),
            "{no_chart}"
        );
        let bad = IndexFile::parse(b"entries: [", "http://repo").unwrap_err();
        assert_eq!(bad.reason(), "IndexationFailed");
    }
}
