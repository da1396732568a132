//! Apply stages. Objects that other objects need to exist first go first: CRDs (so their
//! custom resources are served), Namespaces (so namespaced objects have a home) and
//! ClusterRoles (so bindings and aggregation see them); then `*Class` kinds
//! (StorageClass, IngressClass, PriorityClass, …), which workloads reference by name; then
//! the rest. Within a stage the set's own order is kept.

use flotilla_render::ObjectId;

/// One of the three apply stages, in apply order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// CustomResourceDefinitions, Namespaces and ClusterRoles.
    Definitions,
    /// Kinds named `*Class`.
    Classes,
    /// Everything else.
    Rest,
}

impl Stage {
    /// All stages, in apply order.
    pub const ALL: [Stage; 3] = [Stage::Definitions, Stage::Classes, Stage::Rest];

    /// The stage of an object.
    pub fn of(id: &ObjectId) -> Stage {
        match (id.group.as_str(), id.kind.as_str()) {
            ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("", "Namespace")
            | ("rbac.authorization.k8s.io", "ClusterRole") => Stage::Definitions,
            (_, kind) if kind.ends_with("Class") => Stage::Classes,
            _ => Stage::Rest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(group: &str, kind: &str) -> ObjectId {
        ObjectId {
            group: group.into(),
            kind: kind.into(),
            namespace: None,
            name: "x".into(),
        }
    }

    #[test]
    fn stages() {
        assert_eq!(
            Stage::of(&id("apiextensions.k8s.io", "CustomResourceDefinition")),
            Stage::Definitions
        );
        assert_eq!(Stage::of(&id("", "Namespace")), Stage::Definitions);
        assert_eq!(
            Stage::of(&id("rbac.authorization.k8s.io", "ClusterRole")),
            Stage::Definitions
        );
        assert_eq!(
            Stage::of(&id("rbac.authorization.k8s.io", "ClusterRoleBinding")),
            Stage::Rest
        );
        assert_eq!(
            Stage::of(&id("storage.k8s.io", "StorageClass")),
            Stage::Classes
        );
        assert_eq!(Stage::of(&id("example.com", "Namespace")), Stage::Rest);
        assert_eq!(Stage::of(&id("apps", "Deployment")), Stage::Rest);
    }
}
