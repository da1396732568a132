//! The rendered output: Kubernetes objects in kustomize's order, each identified by
//! group, kind, namespace and name, with no two alike.

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

/// Identity of an object on a cluster: what makes two manifests the same object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// API group; empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects and namespaced objects that leave it to
    /// the apply (kustomize leaves it unset without `namespace`/`targetNamespace`).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectId {
    /// `Deployment.apps/web` or `Deployment.apps/apps/web`, kubectl-style with the namespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if let Some(namespace) = &self.namespace {
            write!(f, "/{namespace}")?;
        }
        write!(f, "/{}", self.name)
    }
}

/// One rendered object. Its `Debug` shows the identity only: a rendered object may hold
/// Secret data or values substituted from Secrets, and must not reach a log by accident.
#[derive(Clone, PartialEq)]
pub struct Object {
    /// Its identity.
    pub id: ObjectId,
    /// `apiVersion`, e.g. `apps/v1`.
    pub api_version: String,
    /// The whole manifest.
    pub value: Value,
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Object")
            .field("id", &self.id)
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

/// Why a manifest is not a usable object.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// The document is not a mapping.
    #[error("{origin}: not a Kubernetes object (expected a mapping)")]
    NotAMapping {
        /// Where it came from (`document 3`, or an object's identity).
        origin: String,
    },
    /// `apiVersion`, `kind` or `metadata.name` is missing or empty.
    #[error("{origin}: missing {field}")]
    Missing {
        /// Where it came from.
        origin: String,
        /// The field.
        field: &'static str,
    },
    /// Two objects with the same identity.
    #[error("duplicate object {0}")]
    Duplicate(ObjectId),
}

impl Object {
    /// Reads the identity of `value`; `origin` names it in errors.
    pub fn new(value: Value, origin: &str) -> Result<Self, ObjectError> {
        Self::with_origin(value, || origin.to_owned())
    }

    /// [`Object::new`] that formats the origin only on error: the per-cluster path reads
    /// the identity of every substituted object.
    pub(crate) fn with_origin(
        value: Value,
        origin: impl Fn() -> String,
    ) -> Result<Self, ObjectError> {
        let Some(map) = value.as_object() else {
            return Err(ObjectError::NotAMapping { origin: origin() });
        };
        let field = |v: Option<&Value>, field: &'static str| {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| ObjectError::Missing {
                    origin: origin(),
                    field,
                })
        };
        let api_version = field(map.get("apiVersion"), "apiVersion")?;
        let kind = field(map.get("kind"), "kind")?;
        let metadata = map.get("metadata");
        let name = field(metadata.and_then(|m| m.get("name")), "metadata.name")?;
        let namespace = metadata
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let group = api_version
            .rsplit_once('/')
            .map_or(String::new(), |(group, _)| group.to_owned());
        Ok(Self {
            id: ObjectId {
                group,
                kind,
                namespace,
                name,
            },
            api_version,
            value,
        })
    }
}

/// Rendered objects in kustomize's output order, unique by [`ObjectId`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectSet {
    objects: Vec<Object>,
}

impl ObjectSet {
    /// Collects `objects`, refusing duplicates.
    pub fn new(objects: Vec<Object>) -> Result<Self, ObjectError> {
        check_unique(objects.iter())?;
        Ok(Self { objects })
    }

    /// Objects the caller has already checked for duplicates.
    pub(crate) fn from_unique(objects: Vec<Object>) -> Self {
        Self { objects }
    }

    /// The objects, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Object> {
        self.objects.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The object with identity `id`.
    pub fn get(&self, id: &ObjectId) -> Option<&Object> {
        self.objects.iter().find(|o| &o.id == id)
    }

    /// The objects, in order.
    pub fn into_vec(self) -> Vec<Object> {
        self.objects
    }
}

impl<'a> IntoIterator for &'a ObjectSet {
    type Item = &'a Object;
    type IntoIter = std::slice::Iter<'a, Object>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Fails with the first object whose identity an earlier one already had.
pub(crate) fn check_unique<'a>(
    objects: impl ExactSizeIterator<Item = &'a Object>,
) -> Result<(), ObjectError> {
    let mut seen = HashSet::with_capacity(objects.len());
    for object in objects {
        if !seen.insert(&object.id) {
            return Err(ObjectError::Duplicate(object.id.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn identity_and_errors() {
        let o = Object::new(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "a"}}),
            "document 1",
        )
        .unwrap();
        assert_eq!(o.id.to_string(), "Deployment.apps/a/web");
        let core = Object::new(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}),
            "x",
        )
        .unwrap();
        assert_eq!(core.id.group, "");
        let err = Object::new(
            json!({"apiVersion": "v1", "metadata": {"name": "a"}}),
            "document 2",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "document 2: missing kind");
        let err = Object::new(json!({"apiVersion": "v1", "kind": "X"}), "document 3").unwrap_err();
        assert_eq!(err.to_string(), "document 3: missing metadata.name");
        let secret = Object::new(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "hunter2"}}),
            "x",
        )
        .unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
        let err = ObjectSet::new(vec![o.clone(), core, o]).unwrap_err();
        assert_eq!(err.to_string(), "duplicate object Deployment.apps/a/web");
    }
}
