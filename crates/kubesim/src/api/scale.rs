//! The `scale` subresource: an `autoscaling/v1` Scale view of a workload's replicas.
//!
//! `kubectl scale` and autoscalers read and write `…/<name>/scale`. The Scale carries the
//! object's identity, `spec.replicas` and `status.{replicas, selector}`; writing it (PUT,
//! or a merge/JSON patch of the Scale) changes only the workload's `spec.replicas`, with
//! optimistic concurrency on the Scale's resourceVersion.

use super::objects::{self, key};
use super::{Ctx, body, ok};
use crate::status::ApiError;
use axum::body::Body;
use axum::http::{Method, Response};
use serde_json::{Value, json};

/// `matchLabels` as a selector string (`a=b,c=d`).
fn selector_string(object: &Value) -> String {
    object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn to_scale(object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or(json!({}));
    let pick = |f: &str| meta.get(f).cloned().unwrap_or(Value::Null);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"),
            "namespace": pick("namespace"),
            "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"),
            "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector_string(object),
        },
    })
}

/// Applies a new Scale to the workload.
fn from_scale(old: &Value, scale: &Value) -> Result<Value, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("spec.replicas must be an integer"))?;
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(replicas);
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        new["metadata"]["resourceVersion"] = json!(rv);
    }
    Ok(new)
}

pub async fn handle(
    ctx: &Ctx<'_>,
    method: Method,
    request: Body,
) -> Result<Response<Body>, ApiError> {
    match method {
        Method::GET => {
            let store = ctx.state.store.lock();
            let object = store
                .get(&key(ctx, ctx.name()))
                .ok_or_else(|| ctx.not_found())?;
            Ok(ok(&to_scale(object)))
        }
        Method::PUT => {
            let bytes = body::read(request).await?;
            let scale = body::parse_json_or_yaml(&bytes, true)?;
            let response =
                objects::write(ctx, Some("scale"), false, |old| from_scale(old, &scale))?;
            rescale_response(ctx).map(|r| r.unwrap_or(response))
        }
        Method::PATCH => {
            let bytes = body::read(request).await?;
            let media = body::media_type(ctx.content_type.as_deref());
            let patch = body::parse_json_or_yaml(&bytes, false)?;
            let response = objects::write(ctx, Some("scale"), false, |old| {
                let mut scale = to_scale(old);
                match media.as_str() {
                    "application/json-patch+json" => {
                        let p: json_patch::Patch =
                            serde_json::from_value(patch.clone()).map_err(|e| {
                                ApiError::bad_request(format!("error decoding patch: {e}"))
                            })?;
                        super::patch::apply_json_patch(&mut scale, &p)
                            .map_err(|e| ApiError::new(422, "Invalid", format!("patch: {e}")))?;
                    }
                    "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                        json_patch::merge(&mut scale, &patch);
                    }
                    _ => {
                        return Err(ApiError::unsupported_media_type(&[
                            "application/json-patch+json",
                            "application/merge-patch+json",
                        ]));
                    }
                }
                from_scale(old, &scale)
            })?;
            rescale_response(ctx).map(|r| r.unwrap_or(response))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

/// The write path answers with the workload; a scale write answers with the Scale.
fn rescale_response(ctx: &Ctx<'_>) -> Result<Option<Response<Body>>, ApiError> {
    let store = ctx.state.store.lock();
    Ok(store.get(&key(ctx, ctx.name())).map(|o| ok(&to_scale(o))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view_and_write_back() {
        let d = json!({"metadata": {"name": "w", "resourceVersion": "7"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "w"}}},
            "status": {"replicas": 1}});
        let s = to_scale(&d);
        assert_eq!(s["spec"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=w");
        let mut s2 = s.clone();
        s2["spec"]["replicas"] = json!(5);
        assert_eq!(from_scale(&d, &s2).unwrap()["spec"]["replicas"], 5);
    }
}
