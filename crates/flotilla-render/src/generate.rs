//! A `kustomization.yaml` for a directory that has none, as Flux generates it: every
//! Kubernetes manifest under the directory, recursively, in path order; a subdirectory
//! with its own kustomization file is included as a whole (and not descended into).
//!
//! YAML files that hold no Kubernetes object (Helm values, CI configs, documents without
//! `apiVersion` and `kind`) are skipped, so a plain directory of manifests with a stray
//! `values.yaml` still builds. A file mixing objects and non-objects, or that is not YAML
//! at all, is an error naming the file, since kustomize would fail on it less clearly.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::yaml_tree::parse_documents;

/// The file names kustomize recognizes, in its order of preference.
pub(crate) const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Why a directory's kustomization could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Reading the directory failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file or directory, relative to the artifact.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// A `.yaml`/`.yml` file that cannot be used as manifests.
    #[error("{path}: {reason}")]
    BadManifest {
        /// The file, relative to the artifact.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Whether `dir` already holds a kustomization file.
pub(crate) fn has_kustomization(dir: &Path) -> bool {
    KUSTOMIZATION_FILES
        .iter()
        .any(|name| dir.join(name).is_file())
}

/// Writes `kustomization.yaml` into `dir` unless it has a kustomization file. `shown`
/// is how errors name `dir` (its path in the artifact).
pub(crate) fn generate_if_missing(dir: &Path, shown: &Path) -> Result<(), GenerateError> {
    if has_kustomization(dir) {
        return Ok(());
    }
    let mut resources = Vec::new();
    scan(dir, Path::new(""), shown, &mut resources)?;
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    // JSON is YAML, and serde_json's output needs no quoting decisions.
    let path = dir.join("kustomization.yaml");
    fs::write(&path, kustomization.to_string()).map_err(|source| GenerateError::Io {
        path: shown.join("kustomization.yaml"),
        source,
    })
}

fn scan(
    dir: &Path,
    relative: &Path,
    shown: &Path,
    resources: &mut Vec<String>,
) -> Result<(), GenerateError> {
    let io_error = |source| GenerateError::Io {
        path: shown.join(relative),
        source,
    };
    let mut entries = fs::read_dir(dir)
        .map_err(io_error)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error)?;
    entries.sort();
    for path in entries {
        let Some(name) = path.file_name() else {
            continue;
        };
        let relative = relative.join(name);
        let as_resource = || relative.to_string_lossy().into_owned();
        if path.is_dir() {
            if has_kustomization(&path) {
                resources.push(as_resource());
            } else {
                scan(&path, &relative, shown, resources)?;
            }
            continue;
        }
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if !is_yaml {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|source| GenerateError::Io {
            path: shown.join(&relative),
            source,
        })?;
        if holds_objects(&text).map_err(|reason| GenerateError::BadManifest {
            path: shown.join(&relative),
            reason,
        })? {
            resources.push(as_resource());
        }
    }
    Ok(())
}

/// Whether every document is a Kubernetes object (true), none is (false), or the file is
/// a mix or not YAML (error).
fn holds_objects(text: &str) -> Result<bool, String> {
    let documents = parse_documents(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let is_object = |v: &serde_json::Value| {
        v.get("apiVersion")
            .is_some_and(serde_json::Value::is_string)
            && v.get("kind").is_some_and(serde_json::Value::is_string)
    };
    let objects = documents.iter().filter(|d| is_object(&d.value)).count();
    match objects {
        0 => Ok(false),
        n if n == documents.len() => Ok(true),
        _ => Err("mixes Kubernetes objects with documents that have no apiVersion/kind".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_manifests_and_nested_kustomizations_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("b/nested")).unwrap();
        fs::create_dir_all(d.join("a")).unwrap();
        fs::create_dir_all(d.join("kust")).unwrap();
        fs::write(
            d.join("z.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: z}\n",
        )
        .unwrap();
        fs::write(
            d.join("a/one.yml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        )
        .unwrap();
        fs::write(
            d.join("b/nested/two.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        )
        .unwrap();
        fs::write(d.join("values.yaml"), "replicas: 3\n").unwrap();
        fs::write(d.join("README.md"), "# hi\n").unwrap();
        fs::write(d.join("kust/kustomization.yaml"), "resources: []\n").unwrap();
        fs::write(d.join("kust/ignored.yaml"), "apiVersion: v1\nkind: X\n").unwrap();

        generate_if_missing(d, Path::new("apps")).unwrap();
        let generated: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(d.join("kustomization.yaml")).unwrap())
                .unwrap();
        assert_eq!(
            generated["resources"],
            serde_json::json!(["a/one.yml", "b/nested/two.yaml", "kust", "z.yaml"])
        );
    }

    #[test]
    fn mixed_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("mixed.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: z}\n---\nfoo: bar\n",
        )
        .unwrap();
        let err = generate_if_missing(dir.path(), Path::new("apps")).unwrap_err();
        assert!(
            err.to_string().starts_with("apps/mixed.yaml: mixes"),
            "{err}"
        );
    }

    #[test]
    fn existing_kustomization_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("Kustomization"), "resources: []\n").unwrap();
        generate_if_missing(dir.path(), Path::new("x")).unwrap();
        assert!(!dir.path().join("kustomization.yaml").exists());
    }
}
