//! Schema pieces that `#[derive(JsonSchema)]` cannot express on its own.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Go-style durations as Flux accepts them (`30s`, `1m30s`, `1.5h`).
pub(crate) const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// A Kubernetes object name (DNS-1123 subdomain).
pub(crate) const NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// Free-form object (Helm values): the API server must keep every field, so the schema
/// says "object" and preserves unknown fields instead of describing them.
pub(crate) fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}
