//! PATCH: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch for
//! built-in kinds ([`crate::strategic`]; 415 for custom resources), and server-side apply.
//!
//! Non-apply patches of a missing object are 404; the patched object then goes through the
//! same write path as an update (optimistic concurrency if the patch names a
//! resourceVersion, server-owned fields kept, no-op detection).

use super::objects;
use super::{Ctx, body, fields};
use crate::status::ApiError;
use crate::strategic::Types;
use axum::body::Body;
use axum::http::Response;
use serde_json::Value;

const ACCEPTED: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    "application/strategic-merge-patch+json",
];

fn parse_patch(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// The real server's answer to a strategic merge patch it cannot apply.
fn strategic_error(e: crate::strategic::PatchError) -> ApiError {
    use crate::strategic::PatchError;
    match e {
        PatchError::BadRequest(m) => ApiError::bad_request(m),
        PatchError::Unprocessable(m) => ApiError::new(422, "Invalid", m),
        PatchError::Internal(m) => ApiError::internal(format!("Internal error occurred: {m}")),
    }
}

fn check_identity(ctx: &Ctx<'_>, patched: &Value) -> Result<(), ApiError> {
    if super::meta::meta_str(patched, "name").is_some_and(|n| n != ctx.name()) {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    Ok(())
}

/// Applies an RFC 6902 patch the way the API server's JSON patch library does: like
/// `json_patch::patch`, except that `test` of `null` passes on a missing member of an
/// existing object (kube-runtime's finalizer helper tests `/metadata/finalizers` for null
/// on objects that have none).
pub fn apply_json_patch(doc: &mut Value, patch: &json_patch::Patch) -> Result<(), String> {
    for op in &patch.0 {
        if let json_patch::PatchOperation::Test(t) = op
            && t.value.is_null()
        {
            let path = t.path.as_str();
            let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
            if doc.pointer(path).is_none() && doc.pointer(parent).is_some_and(Value::is_object) {
                continue;
            }
        }
        json_patch::patch(doc, std::slice::from_ref(op)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub fn patch(ctx: &Ctx<'_>, bytes: bytes::Bytes) -> Result<Response<Body>, ApiError> {
    let sub = match ctx.path.subresource.as_deref() {
        None => None,
        Some("status") => Some("status"),
        Some(_) => return Err(ApiError::no_route()),
    };
    let media = body::media_type(ctx.content_type.as_deref());
    let mut warnings = Vec::new();
    match media.as_str() {
        "application/merge-patch+json" => {
            let patch = parse_patch(&bytes)?;
            objects::write(ctx, sub, false, |old| {
                let mut new = old.clone();
                json_patch::merge(&mut new, &patch);
                check_identity(ctx, &new)?;
                warnings = fields::check_fields(ctx, &new, true)?;
                Ok(new)
            })
            .map(|r| fields::with_warnings(r, &warnings))
        }
        "application/strategic-merge-patch+json" => {
            if !ctx.info.builtin {
                return Err(ApiError::unsupported_media_type(&ACCEPTED[..3]));
            }
            let patch = parse_patch(&bytes)?;
            let defs = &ctx.state.shared.definitions.defs;
            let types = Types::root(defs, ctx.info.definition.as_deref().unwrap_or(""));
            objects::write(ctx, sub, false, |old| {
                let new = crate::strategic::apply(old, &patch, types).map_err(strategic_error)?;
                check_identity(ctx, &new)?;
                warnings = fields::check_fields(ctx, &new, true)?;
                Ok(new)
            })
            .map(|r| fields::with_warnings(r, &warnings))
        }
        "application/json-patch+json" => {
            let patch: json_patch::Patch = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            objects::write(ctx, sub, false, |old| {
                let mut new = old.clone();
                apply_json_patch(&mut new, &patch).map_err(|e| {
                    let info = &ctx.info;
                    let mut err = ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "{} \"{}\" is invalid: patch: {e}",
                            crate::status::qualified(&info.group, &info.kind),
                            ctx.name()
                        ),
                    );
                    err.details.name = Some(ctx.name().to_string());
                    err.details.kind = Some(info.kind.clone());
                    err
                })?;
                check_identity(ctx, &new)?;
                warnings = fields::check_fields(ctx, &new, true)?;
                Ok(new)
            })
            .map(|r| fields::with_warnings(r, &warnings))
        }
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            let config = body::parse_json_or_yaml(&bytes, true)?;
            let warnings = fields::check_fields(ctx, &config, true)?;
            super::apply::apply(ctx, sub, config).map(|r| fields::with_warnings(r, &warnings))
        }
        _ => Err(ApiError::unsupported_media_type(&ACCEPTED)),
    }
}
