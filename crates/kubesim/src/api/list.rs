//! Collection verbs: list (with selectors and `limit`/`continue` paging) and
//! deletecollection.
//!
//! A list is `{kind: <Kind>List, apiVersion, metadata: {resourceVersion[, continue]}, items}`
//! with items in key order (namespace, then name), each with its kind and apiVersion. Paging
//! keeps it simple: the continue token names the last key returned, and the next page
//! continues after it from the current state (the real server reads a consistent
//! snapshot; lists that race with writes may differ, which no client here relies on).

use super::objects::{Presented, after_delete, delete_locked, present};
use super::{Ctx, ok};
use crate::selectors::Selectors;
use crate::status::ApiError;
use axum::body::Body;
use axum::http::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Value, json};

pub fn selectors(ctx: &Ctx<'_>) -> Result<Selectors, ApiError> {
    Selectors::parse(
        ctx.query.label_selector.as_deref(),
        ctx.query.field_selector.as_deref(),
        &ctx.info.kind,
    )
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid: invalid token");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ns, name) = text.split_once('\0').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

fn encode_continue(ns: &str, name: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{ns}\0{name}"))
}

pub fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    if ctx.path.subresource.is_some() {
        return Err(ApiError::no_route());
    }
    let selectors = selectors(ctx)?;
    let after = ctx
        .query
        .continue_token
        .as_deref()
        .map(decode_continue)
        .transpose()?;
    let store = ctx.state.store.lock();
    if ctx.info.namespaced
        && let Some(ns) = ctx.path.namespace.as_deref()
        && ns.is_empty()
    {
        return Err(ApiError::no_route());
    }
    let api_version = ctx.info.api_version();
    let mut items = Vec::new();
    let mut last = None;
    let mut more = false;
    for (key, object) in store.list(
        &ctx.info.group,
        &ctx.info.plural,
        ctx.path.namespace.as_deref(),
    ) {
        if let Some((ns, name)) = &after
            && (key.namespace.as_str(), key.name.as_str()) <= (ns.as_str(), name.as_str())
        {
            continue;
        }
        if !selectors.matches(object) {
            continue;
        }
        if ctx.query.limit.is_some_and(|l| items.len() >= l) {
            more = true;
            break;
        }
        items.push(if ctx.metadata_only {
            Item::Partial(super::partial::partial(object))
        } else {
            Item::Full(Presented {
                object,
                api_version: &api_version,
                kind: &ctx.info.kind,
            })
        });
        last = Some(object);
    }
    let mut metadata = json!({"resourceVersion": store.resource_version().to_string()});
    if more && let Some(last) = last {
        let ns = last
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = last
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        metadata["continue"] = json!(encode_continue(ns, name));
    }
    let (kind, api_version) = if ctx.metadata_only {
        ("PartialObjectMetadataList".to_string(), "meta.k8s.io/v1")
    } else {
        (format!("{}List", ctx.info.kind), api_version.as_str())
    };
    // Fields in key order, as `json!` would write them.
    Ok(ok(&List {
        api_version,
        items,
        kind,
        metadata,
    }))
}

/// A list response, serialized with its items borrowed from the store.
#[derive(Debug, Serialize)]
struct List<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    items: Vec<Item<'a>>,
    kind: String,
    metadata: Value,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Item<'a> {
    Partial(Value),
    Full(Presented<'a>),
}

pub fn delete_collection(ctx: &Ctx<'_>, _bytes: bytes::Bytes) -> Result<Response<Body>, ApiError> {
    if ctx.path.subresource.is_some() {
        return Err(ApiError::no_route());
    }
    let selectors = selectors(ctx)?;
    let mut store = ctx.state.store.lock();
    let keys: Vec<_> = store
        .list(
            &ctx.info.group,
            &ctx.info.plural,
            ctx.path.namespace.as_deref(),
        )
        .filter(|(_, o)| selectors.matches(o))
        .map(|(k, _)| k.clone())
        .collect();
    let items: Vec<Value> = keys
        .iter()
        .filter_map(|k| delete_locked(&mut store, k, ctx.query.dry_run))
        .map(|o| present(ctx, &o))
        .collect();
    let rv = store.resource_version();
    drop(store);
    after_delete(ctx, &keys);
    Ok(ok(&json!({
        "kind": format!("{}List", ctx.info.kind),
        "apiVersion": ctx.info.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    })))
}
