//! Per-object apply policy, read from Flotilla's annotations as Flux reads
//! `kustomize.toolkit.fluxcd.io/{reconcile,ssa,force,prune}` (names in
//! [`flotilla_api::well_known`]). Like Flux, a key counts whether it is an annotation or a
//! label, and the policy of an object is read from the manifest *and* from the object in
//! the cluster: someone may disable reconciliation of a live object with
//! `kubectl annotate`, and Flotilla must then leave it alone.

use flotilla_api::well_known::{
    DISABLED_VALUE, ENABLED_VALUE, FORCE_ANNOTATION, PRUNE_ANNOTATION, RECONCILE_ANNOTATION,
    SSA_ANNOTATION, SSA_IF_NOT_PRESENT_VALUE, SSA_IGNORE_VALUE, SSA_OVERRIDE_VALUE,
};
use std::collections::BTreeMap;

use serde_json::Value;

/// How one object is server-side applied (the `ssa` annotation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SsaMode {
    /// Apply, correcting drift (no annotation, or `Override`).
    #[default]
    Override,
    /// Create the object when it is absent; once it exists, never write it.
    IfNotPresent,
    /// Never write the object.
    Ignore,
}

/// The policy one object's annotations (or labels) ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// `reconcile: disabled`: never write nor delete the object.
    pub reconcile_disabled: bool,
    /// The `ssa` annotation.
    pub ssa: SsaMode,
    /// `force: enabled`: recreate the object when an immutable field changed.
    pub force: bool,
    /// `prune: disabled`: never delete the object.
    pub prune_disabled: bool,
}

/// An annotation with a value Flotilla does not know; the object's apply fails with it
/// rather than silently doing something else than asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("annotation {key}: unknown value {value:?} (expected {expected})")]
pub struct PolicyError {
    /// The annotation key.
    pub key: &'static str,
    /// The value found.
    pub value: String,
    /// The values allowed.
    pub expected: &'static str,
}

impl Policy {
    /// Reads the policy from a manifest's or live object's `metadata`.
    pub fn of(object: &Value) -> Result<Policy, PolicyError> {
        let reconcile_disabled = flag(object, RECONCILE_ANNOTATION, DISABLED_VALUE)?;
        let force = flag(object, FORCE_ANNOTATION, ENABLED_VALUE)?;
        let prune_disabled = flag(object, PRUNE_ANNOTATION, DISABLED_VALUE)?;
        let ssa = match lookup(object, SSA_ANNOTATION) {
            None => SsaMode::Override,
            Some(v) if v == SSA_OVERRIDE_VALUE => SsaMode::Override,
            Some(v) if v == SSA_IF_NOT_PRESENT_VALUE => SsaMode::IfNotPresent,
            Some(v) if v == SSA_IGNORE_VALUE => SsaMode::Ignore,
            Some(other) => {
                return Err(PolicyError {
                    key: SSA_ANNOTATION,
                    value: other.to_owned(),
                    expected: "Override, IfNotPresent or Ignore",
                });
            }
        };
        Ok(Policy {
            reconcile_disabled,
            ssa,
            force,
            prune_disabled,
        })
    }

    /// The policy of a live object from its annotations and labels, tolerating values it
    /// does not know (this deployer's manifests did not write them, and they must not make
    /// an apply or prune fail): an unknown value leaves that behaviour at its default.
    pub fn of_live(
        annotations: Option<&BTreeMap<String, String>>,
        labels: Option<&BTreeMap<String, String>>,
    ) -> Policy {
        let lookup = |key: &str| {
            [annotations, labels]
                .into_iter()
                .find_map(|map| map?.get(key).map(String::as_str))
        };
        Policy {
            reconcile_disabled: lookup(RECONCILE_ANNOTATION) == Some(DISABLED_VALUE),
            ssa: match lookup(SSA_ANNOTATION) {
                Some(v) if v == SSA_IF_NOT_PRESENT_VALUE => SsaMode::IfNotPresent,
                Some(v) if v == SSA_IGNORE_VALUE => SsaMode::Ignore,
                _ => SsaMode::Override,
            },
            force: lookup(FORCE_ANNOTATION) == Some(ENABLED_VALUE),
            prune_disabled: lookup(PRUNE_ANNOTATION) == Some(DISABLED_VALUE),
        }
    }

    /// Whether the object must not be written at all, whether or not it exists.
    pub fn excluded(&self) -> bool {
        self.reconcile_disabled || self.ssa == SsaMode::Ignore
    }

    /// Whether the object must not be deleted (prune, deployer deletion).
    pub fn keep_on_delete(&self) -> bool {
        self.prune_disabled || self.reconcile_disabled
    }
}

/// Whether `key` is set to `on`; absent is off, any other value is an error.
fn flag(object: &Value, key: &'static str, on: &'static str) -> Result<bool, PolicyError> {
    match lookup(object, key) {
        None => Ok(false),
        Some(v) if v == on => Ok(true),
        Some(other) => Err(PolicyError {
            key,
            value: other.to_owned(),
            expected: on,
        }),
    }
}

/// The value of `key` among the annotations, else among the labels.
fn lookup<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    let metadata = object.get("metadata")?;
    ["annotations", "labels"]
        .into_iter()
        .find_map(|field| metadata.get(field)?.get(key)?.as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_annotations_and_labels() {
        let none = Policy::of(&json!({"metadata": {"name": "a"}})).unwrap();
        assert_eq!(none, Policy::default());
        assert!(!none.excluded());

        let policy = Policy::of(&json!({"metadata": {
            "annotations": {"flotilla.dev/ssa": "IfNotPresent", "flotilla.dev/force": "enabled"},
            "labels": {"flotilla.dev/prune": "disabled"}}}))
        .unwrap();
        assert_eq!(policy.ssa, SsaMode::IfNotPresent);
        assert!(policy.force && policy.prune_disabled && !policy.reconcile_disabled);
        assert!(policy.keep_on_delete() && !policy.excluded());

        let disabled = Policy::of(
            &json!({"metadata": {"annotations": {"flotilla.dev/reconcile": "disabled"}}}),
        )
        .unwrap();
        assert!(disabled.excluded() && disabled.keep_on_delete());
        let ignored =
            Policy::of(&json!({"metadata": {"annotations": {"flotilla.dev/ssa": "Ignore"}}}))
                .unwrap();
        assert!(ignored.excluded() && !ignored.keep_on_delete());
    }

    #[test]
    fn unknown_values_are_errors_on_manifests_only() {
        let object = json!({"metadata": {"annotations": {"flotilla.dev/ssa": "Merge", "flotilla.dev/prune": "disabled"}}});
        let err = Policy::of(&object).unwrap_err();
        assert_eq!(
            err.to_string(),
            "annotation flotilla.dev/ssa: unknown value \"Merge\" (expected Override, IfNotPresent or Ignore)"
        );
        let err = Policy::of(&json!({"metadata": {"annotations": {"flotilla.dev/force": "true"}}}))
            .unwrap_err();
        assert_eq!(err.key, "flotilla.dev/force");
        let annotations: BTreeMap<String, String> =
            serde_json::from_value(object["metadata"]["annotations"].clone()).unwrap();
        let live = Policy::of_live(Some(&annotations), None);
        assert_eq!(live.ssa, SsaMode::Override);
        assert!(live.prune_disabled);
    }
}
