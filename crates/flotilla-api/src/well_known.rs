//! Names Flotilla writes onto objects, shared by the hub, the apply engine and the CLI.

/// Field manager of every server-side apply Flotilla makes, so drift can be attributed to
/// whichever other manager changed a field.
pub const FIELD_MANAGER: &str = "flotilla";

/// Label on every applied object: name of the deployer that owns it.
pub const OWNER_NAME_LABEL: &str = "flotilla.dev/name";
/// Label on every applied object: namespace of the deployer that owns it.
pub const OWNER_NAMESPACE_LABEL: &str = "flotilla.dev/namespace";
/// Label on every applied object: kind of the deployer that owns it.
pub const OWNER_KIND_LABEL: &str = "flotilla.dev/kind";

/// Annotation that requests an immediate reconciliation (`flotilla reconcile`); any new
/// value triggers one, and status reports the last value handled in
/// `lastHandledReconcileAt`. Flux's equivalent is `reconcile.fluxcd.io/requestedAt`.
pub const RECONCILE_REQUESTED_AT_ANNOTATION: &str = "reconcile.flotilla.dev/requestedAt";

/// Label or annotation that opts one object out of `${var}` substitution when set to
/// `disabled`, e.g. a ConfigMap holding a shell script. Flux's equivalent is
/// `kustomize.toolkit.fluxcd.io/substitute`.
pub const SUBSTITUTE_ANNOTATION: &str = "flotilla.dev/substitute";

/// Annotation (or label) that stops Flotilla from writing one object when set to
/// `disabled`, on the manifest or on the object in the cluster: it is neither created nor
/// updated, nor pruned. Flux's equivalent is `kustomize.toolkit.fluxcd.io/reconcile`.
pub const RECONCILE_ANNOTATION: &str = "flotilla.dev/reconcile";

/// Annotation (or label) choosing how one object is server-side applied: `Override`
/// (the default: apply, correcting drift), `IfNotPresent` (create it when absent, never
/// touch it once it exists) or `Ignore` (never apply it). Flux's equivalent is
/// `kustomize.toolkit.fluxcd.io/ssa`.
pub const SSA_ANNOTATION: &str = "flotilla.dev/ssa";

/// Annotation (or label) that, set to `enabled`, lets Flotilla recreate one object whose
/// immutable fields changed (delete, wait until gone, apply) even when the deployer's
/// `force` is off. Flux's equivalent is `kustomize.toolkit.fluxcd.io/force`.
pub const FORCE_ANNOTATION: &str = "flotilla.dev/force";

/// Annotation (or label) that, set to `disabled` on the object in the cluster, keeps
/// prune and deployer deletion from deleting it. Flux's equivalent is
/// `kustomize.toolkit.fluxcd.io/prune`.
pub const PRUNE_ANNOTATION: &str = "flotilla.dev/prune";

/// The value of [`RECONCILE_ANNOTATION`] and [`PRUNE_ANNOTATION`] that turns the behaviour off.
pub const DISABLED_VALUE: &str = "disabled";
/// The value of [`FORCE_ANNOTATION`] that turns recreation on.
pub const ENABLED_VALUE: &str = "enabled";
/// [`SSA_ANNOTATION`]: apply and correct drift (the default).
pub const SSA_OVERRIDE_VALUE: &str = "Override";
/// [`SSA_ANNOTATION`]: create when absent, leave alone once it exists.
pub const SSA_IF_NOT_PRESENT_VALUE: &str = "IfNotPresent";
/// [`SSA_ANNOTATION`]: never apply.
pub const SSA_IGNORE_VALUE: &str = "Ignore";
