//! The owner labels: every applied object names the deployer that owns it, so prune and
//! drift detection can find exactly Flotilla's objects and nothing else.

use flotilla_api::well_known::{OWNER_KIND_LABEL, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The deployer an apply acts for (a Kustomization or HelmRelease on the management
/// cluster), written onto every object as `flotilla.dev/kind|namespace|name` labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Kind of the deployer, e.g. `Kustomization`.
    pub kind: String,
    /// Namespace of the deployer on the management cluster.
    pub namespace: String,
    /// Name of the deployer.
    pub name: String,
}

impl std::fmt::Display for Owner {
    /// `Kind namespace/name`, e.g. `Kustomization fleet/apps`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

impl Owner {
    /// The three owner labels, as `(key, value)`.
    pub fn labels(&self) -> [(&'static str, &str); 3] {
        [
            (OWNER_NAME_LABEL, &self.name),
            (OWNER_NAMESPACE_LABEL, &self.namespace),
            (OWNER_KIND_LABEL, &self.kind),
        ]
    }

    /// The label selector matching exactly this owner's objects.
    pub fn selector(&self) -> String {
        self.labels()
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether `labels` (an object's `metadata.labels`) name this owner, all three labels
    /// matching: prune and deletion touch nothing else.
    pub fn owns(&self, labels: Option<&std::collections::BTreeMap<String, String>>) -> bool {
        labels.is_some_and(|labels| {
            self.labels()
                .iter()
                .all(|(key, value)| labels.get(*key).map(String::as_str) == Some(*value))
        })
    }

    /// Sets the owner labels on a manifest, creating `metadata.labels` where it is missing
    /// or null and overriding any owner label the manifest already carried.
    pub(crate) fn stamp(&self, manifest: &mut Value) {
        let Some(map) = manifest.as_object_mut() else {
            // Not reachable for an `Object`: its constructor refuses non-mappings.
            return;
        };
        let metadata = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        let Some(metadata) = metadata.as_object_mut() else {
            return;
        };
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        if let Some(labels) = labels.as_object_mut() {
            for (key, value) in self.labels() {
                labels.insert(key.to_owned(), Value::String(value.to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stamps_labels_keeping_others() {
        let owner = Owner {
            kind: "Kustomization".into(),
            namespace: "fleet".into(),
            name: "apps".into(),
        };
        let mut with = json!({"metadata": {"name": "a", "labels": {"app": "web", "flotilla.dev/name": "other"}}});
        owner.stamp(&mut with);
        assert_eq!(
            with["metadata"]["labels"],
            json!({"app": "web", "flotilla.dev/name": "apps", "flotilla.dev/namespace": "fleet", "flotilla.dev/kind": "Kustomization"})
        );
        let mut null = json!({"metadata": {"name": "a", "labels": null}});
        owner.stamp(&mut null);
        assert_eq!(
            null["metadata"]["labels"]["flotilla.dev/kind"],
            "Kustomization"
        );
        assert_eq!(
            owner.selector(),
            "flotilla.dev/name=apps,flotilla.dev/namespace=fleet,flotilla.dev/kind=Kustomization"
        );
        let labels: std::collections::BTreeMap<String, String> =
            serde_json::from_value(with["metadata"]["labels"].clone()).unwrap();
        assert!(owner.owns(Some(&labels)));
        let mut other = labels.clone();
        other.insert("flotilla.dev/kind".into(), "HelmRelease".into());
        assert!(!owner.owns(Some(&other)));
        assert!(!owner.owns(None));
    }
}
