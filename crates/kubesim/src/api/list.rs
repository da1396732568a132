//! Collection verbs: list (with selectors and `limit`/`continue` paging) and
//! deletecollection.
//!
//! A list is `{kind: <Kind>List, apiVersion, metadata: {resourceVersion[, continue]}, items}`
//! with items in key order (namespace, then name), each with its kind and apiVersion, or a
//! `PartialObjectMetadataList` or `Table` when the Accept header asks for one.
//!
//! Paging (`limit`/`continue`) reads every page from the snapshot of the first one: the
//! continue token carries that resourceVersion and the last key sent, and later pages are
//! rebuilt from the store's history ([`crate::snapshot`]); once that history is compacted
//! the token is refused with the real server's 410. `remainingItemCount` is set when no
//! selector filters the list. `resourceVersionMatch=Exact` lists read a snapshot the same way.

use super::objects::{Presented, after_delete, present, propagation};
use super::{Ctx, ok};
use crate::selectors::Selectors;
use crate::status::ApiError;
use crate::store::ObjectKey;
use axum::body::Body;
use axum::http::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn selectors(ctx: &Ctx<'_>) -> Result<Selectors, ApiError> {
    Selectors::parse(
        ctx.query.label_selector.as_deref(),
        ctx.query.field_selector.as_deref(),
        &ctx.info.kind,
    )
}

/// Where a paged list continues: the snapshot's resourceVersion and the last key sent.
#[derive(Debug, Serialize, Deserialize)]
struct Continue {
    v: String,
    rv: u64,
    start: String,
}

fn decode_continue(token: &str) -> Result<(u64, String, String), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid: invalid token");
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let c: Continue = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let (ns, name) = c.start.split_once('\0').ok_or_else(bad)?;
    Ok((c.rv, ns.to_string(), name.to_string()))
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    let c = Continue {
        v: "meta.k8s.io/v1".to_string(),
        rv,
        start: format!("{ns}\0{name}"),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default())
}

/// The 410 of a continue token whose snapshot was compacted away.
fn continue_expired() -> ApiError {
    ApiError::new(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
    )
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
    let (group, plural, ns) = (
        &ctx.info.group,
        &ctx.info.plural,
        ctx.path.namespace.as_deref(),
    );
    let exact = ctx.query.resource_version_match.as_deref() == Some("Exact");
    let snapshot_rv = match (&after, exact, ctx.query.resource_version.as_deref()) {
        (Some((rv, _, _)), _, _) => Some(*rv),
        (None, true, Some(rv)) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?,
        ),
        _ => None,
    };
    let snapshot = match snapshot_rv {
        Some(rv) if rv > store.resource_version() => {
            return Err(ApiError::new(
                504,
                "Timeout",
                format!(
                    "Too large resource version: {rv}, current: {}",
                    store.resource_version()
                ),
            ));
        }
        Some(rv) if rv == store.resource_version() => None,
        Some(rv) => Some(
            crate::snapshot::at(&store, rv, group, plural, ns).ok_or_else(|| {
                if after.is_some() {
                    continue_expired()
                } else {
                    ApiError::new(
                        410,
                        "Expired",
                        format!("too old resource version: {rv} ({})", store.compacted()),
                    )
                }
            })?,
        ),
        None => None,
    };
    let rv = snapshot_rv.unwrap_or(store.resource_version());
    let objects: Box<dyn Iterator<Item = (&ObjectKey, &Arc<Value>)>> = match &snapshot {
        Some(s) => Box::new(s.iter().map(|(k, v)| (k, v))),
        None => store.candidates(group, plural, ns, &selectors.labels),
    };
    let page = page(
        objects,
        after.as_ref().map(|(_, ns, n)| (ns.as_str(), n.as_str())),
        &selectors,
        ctx.query.limit,
    );
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some((ns, name)) = page.last_key {
        metadata["continue"] = json!(encode_continue(rv, &ns, &name));
        // The real server counts the rest only when nothing filters it.
        let unfiltered = [&ctx.query.label_selector, &ctx.query.field_selector]
            .iter()
            .all(|s| s.as_deref().unwrap_or("").is_empty());
        if unfiltered {
            metadata["remainingItemCount"] = json!(page.remaining);
        }
    }
    if ctx.table {
        let spec = super::table::TableSpec::new(ctx, &store);
        let now = chrono::Utc::now();
        let rows = page
            .items
            .iter()
            .map(|o| spec.row(&ctx.info, o, now))
            .collect();
        return Ok(ok(&spec.table(rows, metadata)));
    }
    let api_version = ctx.info.api_version();
    let items = page
        .items
        .iter()
        .map(|object| {
            if ctx.metadata_only {
                Item::Partial(super::partial::partial(object))
            } else {
                Item::Full(Presented {
                    object,
                    api_version: std::borrow::Cow::Borrowed(&api_version),
                    kind: &ctx.info.kind,
                })
            }
        })
        .collect();
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

/// One page of a list.
struct Page<'a> {
    items: Vec<&'a Arc<Value>>,
    /// The key to continue after, when more items follow.
    last_key: Option<(String, String)>,
    /// How many matching items follow.
    remaining: usize,
}

fn page<'a>(
    objects: impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)>,
    after: Option<(&str, &str)>,
    selectors: &Selectors,
    limit: Option<usize>,
) -> Page<'a> {
    let mut items = Vec::new();
    let mut last_key = None;
    let mut remaining = 0;
    for (key, object) in objects {
        if after.is_some_and(|a| (key.namespace.as_str(), key.name.as_str()) <= a) {
            continue;
        }
        if !selectors.matches(object) {
            continue;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            remaining += 1;
            continue;
        }
        last_key = Some((key.namespace.clone(), key.name.clone()));
        items.push(object);
    }
    Page {
        items,
        last_key: last_key.filter(|_| remaining > 0),
        remaining,
    }
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
    let (policy, _) = propagation(ctx, ctx.query.propagation_policy.as_deref(), None)?;
    let mut store = ctx.state.store.lock();
    let keys: Vec<_> = store
        .candidates(
            &ctx.info.group,
            &ctx.info.plural,
            ctx.path.namespace.as_deref(),
            &selectors.labels,
        )
        .filter(|(_, o)| selectors.matches(o))
        .map(|(k, _)| k.clone())
        .collect();
    let items: Vec<Value> = keys
        .iter()
        .filter_map(|k| crate::gc::delete(&mut store, k, ctx.query.dry_run, policy))
        .collect();
    let items: Vec<_> = items.iter().map(|o| present(ctx, o)).collect();
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
