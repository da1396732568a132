//! The CustomResourceDefinitions of every Flotilla kind, and their YAML form as checked in
//! under `manifests/crds/` (regenerated with `make crds`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use thiserror::Error;

use crate::{
    Bucket, ClusterSync, GitRepository, HelmRelease, HelmRepository, Kustomization, OCIRepository,
};

/// First line of every generated file, so nobody edits one by hand.
pub const HEADER: &str = "# Generated from crates/flotilla-api by `make crds`. Do not edit.\n";

/// Rendering or writing CRDs failed.
#[derive(Debug, Error)]
pub enum CrdError {
    /// A CRD could not be serialized to YAML.
    #[error("rendering CRD {name} as YAML: {source}")]
    Render {
        /// The CRD's name.
        name: String,
        /// What serde-saphyr reported.
        source: serde_saphyr::SerializeError,
    },
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS reported.
        source: io::Error,
    },
}

/// Every Flotilla CRD: sources, deployers, then ClusterSync.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        GitRepository::crd(),
        HelmRepository::crd(),
        OCIRepository::crd(),
        Bucket::crd(),
        Kustomization::crd(),
        HelmRelease::crd(),
        ClusterSync::crd(),
    ]
}

/// File name of a CRD under `manifests/crds/`: `<plural>.<group>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!(
        "{}.yaml",
        crd.metadata
            .name
            .as_deref()
            .unwrap_or(&crd.spec.names.plural)
    )
}

/// A CRD as YAML, with [`HEADER`] first.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    let body = serde_saphyr::to_string(crd).map_err(|source| CrdError::Render {
        name: crd.metadata.name.clone().unwrap_or_default(),
        source,
    })?;
    Ok(format!("{HEADER}{body}"))
}

/// Every CRD as `(file name, YAML)`, in [`all`]'s order.
pub fn render_all() -> Result<Vec<(String, String)>, CrdError> {
    all()
        .iter()
        .map(|crd| Ok((file_name(crd), to_yaml(crd)?)))
        .collect()
}

/// Writes every CRD into `dir` (which must exist) and returns the paths written.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>, CrdError> {
    render_all()?
        .into_iter()
        .map(|(name, yaml)| {
            let path = dir.join(name);
            fs::write(&path, yaml).map_err(|source| CrdError::Write {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_namespaced_in_the_flotilla_category_with_status() {
        let crds = all();
        assert_eq!(crds.len(), 7);
        for crd in &crds {
            let kind = &crd.spec.names.kind;
            assert_eq!(crd.spec.group, crate::GROUP, "{kind}");
            assert_eq!(crd.spec.scope, "Namespaced", "{kind}");
            assert_eq!(
                crd.spec.names.categories.as_deref(),
                Some(&[crate::CATEGORY.to_owned()][..]),
                "{kind}"
            );
            let version = &crd.spec.versions[0];
            assert_eq!(version.name, crate::VERSION, "{kind}");
            assert!(
                version
                    .subresources
                    .as_ref()
                    .and_then(|s| s.status.as_ref())
                    .is_some(),
                "{kind} lacks the status subresource"
            );
        }
    }

    #[test]
    fn file_names_are_plural_dot_group() {
        let names: Vec<_> = all().iter().map(file_name).collect();
        assert!(names.contains(&"ocirepositories.flotilla.dev.yaml".to_owned()));
        assert!(names.contains(&"clustersyncs.flotilla.dev.yaml".to_owned()));
    }

    #[test]
    fn yaml_starts_with_header_and_names_the_kind() {
        let crd = Kustomization::crd();
        let yaml = to_yaml(&crd).unwrap();
        assert!(yaml.starts_with(HEADER));
        assert!(yaml.contains("kind: Kustomization"));
    }
}
