//! `serviceaccounts/<name>/token`: TokenRequests (`kubectl create token`).
//!
//! The token handed out is the cluster's bearer token, so it authenticates against the
//! cluster like a real service-account token would (kubesim has no RBAC, so it grants
//! everything).

use super::objects::key;
use super::{Ctx, body, json_response, meta};
use crate::status::ApiError;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde_json::{Value, json};

pub fn create(ctx: &Ctx<'_>, bytes: &[u8]) -> Result<Response<Body>, ApiError> {
    let request = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else if body::media_type(ctx.content_type.as_deref()) == "application/vnd.kubernetes.protobuf"
    {
        crate::protobuf::decode(bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid TokenRequest: {e}")))?
    } else {
        body::parse_json_or_yaml(bytes, true)?
    };
    {
        let store = ctx.state.store.lock();
        if store.get(&key(ctx, ctx.name())).is_none() {
            return Err(ctx.not_found());
        }
    }
    let seconds = request
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut spec = request.get("spec").cloned().unwrap_or(json!({}));
    if spec.get("audiences").is_none() {
        spec["audiences"] = json!(["https://kubernetes.default.svc.cluster.local"]);
    }
    spec["expirationSeconds"] = json!(seconds);
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {
                "name": ctx.name(),
                "namespace": ctx.namespace(),
                "creationTimestamp": meta::now(),
            },
            "spec": spec,
            "status": {"token": ctx.state.token, "expirationTimestamp": expires},
        }),
    ))
}
