//! Glue between the write verbs and the server-side apply library ([`crate::ssa`]):
//! which schema and field manager a request uses, and how its errors become Statuses.
//!
//! Every write goes through the field manager: apply as an `Apply` operation, create,
//! update and non-apply patches as `Update` operations of the request's manager (the
//! `fieldManager` parameter, else the User-Agent's program name). Kinds with no schema
//! (custom resources until CRD schemas are wired) are written without managedFields.

use super::Ctx;
use crate::ssa::manager::describe_manager;
use crate::ssa::{Conflicts, FieldManager, FieldSet, Path, SsaError, Writer};
use crate::status::ApiError;
use serde_json::Value;
use std::sync::LazyLock;

/// The 409 an apply conflict gets: one `FieldManagerConflict` cause per contested field.
pub fn conflict_error(ctx: &Ctx<'_>, conflicts: &Conflicts) -> ApiError {
    let mut e = ApiError::new(
        409,
        "Conflict",
        crate::ssa::manager::conflict_message(conflicts),
    );
    e.details.name = Some(ctx.name().to_string());
    e.details.group = (!ctx.info.group.is_empty()).then(|| ctx.info.group.clone());
    e.details.kind = Some(ctx.info.plural.clone());
    for c in &conflicts.0 {
        e = e.with_cause(
            "FieldManagerConflict",
            &format!("conflict with {}", describe_manager(&c.manager)),
            &c.path.to_string(),
        );
    }
    e
}

pub fn ssa_error(ctx: &Ctx<'_>, err: SsaError) -> ApiError {
    match err {
        SsaError::Conflicts(c) => conflict_error(ctx, &c),
        SsaError::Invalid { path, message } => ApiError::invalid(
            &ctx.info.group,
            &ctx.info.kind,
            ctx.name(),
            path.trim_start_matches('.'),
            &message,
        ),
        SsaError::ManagedFields(m) => {
            ApiError::bad_request(format!("failed to decode managed fields: {m}"))
        }
    }
}

/// Runs `f` with the field manager for this request's kind and endpoint, or `None` when
/// the kind has no schema.
pub fn with_field_manager<R>(
    ctx: &Ctx<'_>,
    subresource: Option<&str>,
    f: impl FnOnce(Option<&FieldManager<'_>>) -> R,
) -> R {
    let info = &ctx.info;
    let custom = ctx.state.custom();
    let builtin = ctx
        .state
        .shared
        .ssa
        .as_ref()
        .and_then(|d| Some((&d.schema, d.root(&info.group, &info.version, &info.kind)?)));
    let custom_schema = || {
        custom
            .merge
            .get(&(info.group.clone(), info.version.clone(), info.kind.clone()))
            .map(|(s, r)| (s, r.clone()))
    };
    let Some((schema, root)) = builtin.or_else(custom_schema) else {
        return f(None);
    };
    // Each endpoint resets the other's part, and nobody gains ownership of it there.
    static SPEC: LazyLock<FieldSet> =
        LazyLock::new(|| FieldSet::from_paths([Path::fields(&["spec"])]));
    static STATUS: LazyLock<FieldSet> =
        LazyLock::new(|| FieldSet::from_paths([Path::fields(&["status"])]));
    let ignored: Option<&FieldSet> = match subresource {
        Some("status") => Some(&SPEC),
        _ if info.has_subresource("status") => Some(&STATUS),
        _ => None,
    };
    let fm = FieldManager {
        schema,
        root: &root,
        ignored,
        empty: None,
    };
    f(Some(&fm))
}

/// Records a non-apply write (`live` None for a create) in `new`'s managedFields.
pub fn track_update(
    ctx: &Ctx<'_>,
    subresource: Option<&str>,
    live: Option<&Value>,
    new: Value,
) -> Result<Value, ApiError> {
    let manager = ctx.manager();
    let api_version = ctx.info.api_version();
    let now = super::meta::now();
    with_field_manager(ctx, subresource, |fm| {
        let Some(fm) = fm else {
            return Ok(new);
        };
        let writer = Writer {
            manager: &manager,
            api_version: &api_version,
            subresource: subresource.unwrap_or(""),
            now: &now,
        };
        fm.update(live, &new, &writer)
            .map(|w| w.object)
            .map_err(|e| ssa_error(ctx, e))
    })
}

/// Checks `object` for undeclared fields per `fieldValidation`: Strict fails (400 for
/// create and update, 422 for patches), Warn returns one warning per field, Ignore and
/// kinds without a schema pass.
pub fn check_fields(ctx: &Ctx<'_>, object: &Value, patch: bool) -> Result<Vec<String>, ApiError> {
    use crate::validation::{FieldValidation, Schemas, strict_message};
    let mode = FieldValidation::parse(ctx.query.field_validation.as_deref());
    let Some(def) = ctx.info.definition.as_deref() else {
        return Ok(Vec::new());
    };
    if mode == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let custom = ctx.state.custom();
    let schemas = Schemas {
        builtin: &ctx.state.shared.definitions.defs,
        custom: &custom.openapi,
    };
    let unknown = schemas.unknown_fields(def, object);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let info = &ctx.info;
    match mode {
        FieldValidation::Strict if patch => {
            Err(ApiError::new(422, "Invalid", strict_message(&unknown)))
        }
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {}",
            strict_message(&unknown),
            kind = info.kind,
            version = info.version,
        ))),
        _ => Ok(unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect()),
    }
}

/// Adds one `Warning: 299 - "…"` header per warning, as the API server does.
pub fn with_warnings(
    mut response: axum::http::Response<axum::body::Body>,
    warnings: &[String],
) -> axum::http::Response<axum::body::Body> {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response
                .headers_mut()
                .append(axum::http::header::WARNING, v);
        }
    }
    response
}

/// Prunes and defaults a custom resource by its CRD's schema (built-ins pass untouched).
pub fn normalize_custom(ctx: &Ctx<'_>, object: &mut Value) {
    if ctx.info.builtin {
        return;
    }
    let Some(def) = ctx.info.definition.as_deref() else {
        return;
    };
    let custom = ctx.state.custom();
    if let Some(schema) = custom.openapi.get(def) {
        crate::structural::normalize(&ctx.state.shared.definitions.defs, schema, object, true);
    }
}

/// Validates a custom resource's values against its CRD version's schema (built-ins pass):
/// the whole object, or only its status on the status subresource, as the apiextensions
/// server does. `old` is the stored object on updates, for ratcheting.
pub fn validate_custom(
    ctx: &Ctx<'_>,
    object: &Value,
    old: Option<&Value>,
    subresource: Option<&str>,
) -> Result<(), ApiError> {
    use crate::schema_validation::{aggregate, validate_object, validate_status};
    if ctx.info.builtin {
        return Ok(());
    }
    let Some(def) = ctx.info.definition.as_deref() else {
        return Ok(());
    };
    let custom = ctx.state.custom();
    let Some(schema) = custom.openapi.get(def) else {
        return Ok(());
    };
    let errors = match subresource {
        Some("status") => validate_status(schema, object, old),
        _ => validate_object(schema, object, old),
    };
    if errors.is_empty() {
        return Ok(());
    }
    let causes = errors
        .iter()
        .map(|e| crate::status::Cause {
            reason: e.kind.reason().to_string(),
            message: e.body(),
            field: e.field.clone(),
        })
        .collect();
    let name = super::meta::meta_str(object, "name").unwrap_or(ctx.name());
    Err(ApiError::invalid_causes(
        &ctx.info.group,
        &ctx.info.kind,
        name,
        &aggregate(&errors),
        causes,
    ))
}
