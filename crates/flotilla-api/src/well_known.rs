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
