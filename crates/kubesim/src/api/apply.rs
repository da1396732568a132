//! Server-side apply (`PATCH` with `application/apply-patch+yaml`).
//!
//! The applied configuration is merged into the live object by the field manager
//! ([`crate::ssa::FieldManager::apply`]), which tracks ownership per manager, reports
//! conflicts (409 unless `force=true`) and removes fields the applier stopped sending when
//! nobody else owns them. Applying to a missing object creates it (201). An apply that
//! changes nothing — object and managedFields alike — keeps the resourceVersion and emits
//! no watch event.

use super::fields::{self, with_field_manager};
use super::objects::{check_namespace, key, present};
use super::{Ctx, json_response, meta, ok};
use crate::ssa::Writer;
use crate::status::ApiError;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde_json::Value;

fn check_config(ctx: &Ctx<'_>, config: &Value) -> Result<(), ApiError> {
    let info = &ctx.info;
    let Some(map) = config.as_object() else {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized (must be of type Object)",
        ));
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != info.api_version() || kind != info.kind {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    match meta::meta_str(config, "name") {
        Some(n) if n == ctx.name() => Ok(()),
        Some(_) => Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        )),
        None => Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        )),
    }
}

pub fn apply(
    ctx: &Ctx<'_>,
    subresource: Option<&str>,
    config: Value,
) -> Result<Response<Body>, ApiError> {
    let Some(manager) = ctx.query.field_manager.clone().filter(|m| !m.is_empty()) else {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        )
        .with_cause("FieldValueRequired", "Required value: is required for apply patch", "fieldManager"));
    };
    check_config(ctx, &config)?;
    if ctx.info.namespaced
        && let Some(ns) = meta::meta_str(&config, "namespace")
        && ns != ctx.namespace()
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let api_version = ctx.info.api_version();
    let now = meta::now();
    let writer = Writer {
        manager: &manager,
        api_version: &api_version,
        subresource: subresource.unwrap_or(""),
        now: &now,
    };
    let key = key(ctx, ctx.name());
    // The merge, defaulting and validation run without the store lock, on the object as
    // read; the write then checks under the lock that the object is still the one read
    // and otherwise starts over (the API server's optimistic GuaranteedUpdate). Concurrent
    // applies to one cluster so merge in parallel; only the check and the write serialize.
    loop {
        let live = ctx.state.store.lock().get(&key).cloned();
        // A resourceVersion in the applied configuration is a precondition.
        if let (Some(live), Some(rv)) = (&live, meta::meta_str(&config, "resourceVersion"))
            && !rv.is_empty()
            && meta::meta_str(live, "resourceVersion") != Some(rv)
        {
            return Err(ApiError::conflict_modified(
                &ctx.info.group,
                &ctx.info.plural,
                ctx.name(),
            ));
        }
        let written = with_field_manager(ctx, subresource, |fm| {
            let Some(fm) = fm else {
                return Err(ApiError::unsupported_media_type(&[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                ]));
            };
            fm.apply(live.as_deref(), &config, &writer, ctx.query.force)
                .map_err(|e| fields::ssa_error(ctx, e))
        })?;
        match live {
            None => {
                if subresource.is_some() {
                    return Err(ctx.not_found());
                }
                let mut object = written.object;
                fields::normalize_custom(ctx, &mut object);
                let prepared = meta::prepare_create(ctx, &mut object).and_then(|_| {
                    super::objects::default_builtin(ctx, &mut object);
                    fields::validate_custom(ctx, &object, None, None)
                });
                let mut store = ctx.state.store.lock();
                if store.get(&key).is_some() {
                    continue;
                }
                // A missing Namespace is reported before the object's own errors.
                check_namespace(ctx, &store, true)?;
                prepared?;
                // Allocations (a Service's IP) see every stored object: under the lock.
                super::objects::on_create(ctx, &mut object, &store)?;
                let stored = if ctx.query.dry_run {
                    std::sync::Arc::new(object)
                } else {
                    store.put(key, object)
                };
                drop(store);
                return Ok(json_response(StatusCode::CREATED, &present(ctx, &stored)));
            }
            Some(live) => {
                if !written.object_changed && !written.managed_fields_changed {
                    return Ok(ok(&present(ctx, &live)));
                }
                let mut object = written.object;
                fields::normalize_custom(ctx, &mut object);
                meta::prepare_update(ctx, &live, &mut object, subresource);
                if subresource.is_none() && ctx.info.builtin {
                    super::objects::default_builtin(ctx, &mut object);
                    crate::defaults::on_update(&ctx.info.group, &ctx.info.kind, &live, &mut object);
                }
                fields::validate_custom(ctx, &object, Some(&live), subresource)?;
                super::objects::check_immutable(ctx, subresource, &live, &object)?;
                if meta::is_noop(&live, &object) {
                    return Ok(ok(&present(ctx, &object)));
                }
                let mut store = ctx.state.store.lock();
                if !store
                    .get(&key)
                    .is_some_and(|current| std::sync::Arc::ptr_eq(current, &live))
                {
                    continue;
                }
                // Claims (a Service's new node ports) see every stored object: under the lock.
                super::objects::allocate_update(ctx, subresource, &live, &mut object, &store)?;
                if ctx.query.dry_run {
                    return Ok(ok(&present(ctx, &object)));
                }
                let stored = store.put(key, object);
                drop(store);
                return Ok(ok(&present(ctx, &stored)));
            }
        }
    }
}
