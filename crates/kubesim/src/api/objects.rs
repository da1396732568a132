//! Verbs on one object: create, get, update (PUT) and delete, plus the write path that
//! update and patch share.

use super::meta::{self, metadata_mut};
use super::{Ctx, body, fields, json_response, ok};
use crate::status::ApiError;
use crate::store::{ObjectKey, StoreState};
use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::sync::Arc;

/// Only `status` is served among subresources so far.
fn check_subresource(ctx: &Ctx<'_>) -> Result<Option<&'static str>, ApiError> {
    match ctx.path.subresource.as_deref() {
        None => Ok(None),
        Some("status") => Ok(Some("status")),
        Some(_) => Err(ApiError::no_route()),
    }
}

pub fn key(ctx: &Ctx<'_>, name: &str) -> ObjectKey {
    ObjectKey::new(&ctx.info.group, &ctx.info.plural, ctx.namespace(), name)
}

/// The object as the requested version presents it (no conversion between versions: the
/// kinds kubesim serves in several versions are read in the version they were written),
/// serialized from the object itself rather than a copy.
pub fn present<'a>(ctx: &'a Ctx<'_>, object: &'a Value) -> Presented<'a> {
    Presented {
        object,
        api_version: Cow::Owned(ctx.info.api_version()),
        kind: &ctx.info.kind,
    }
}

/// An object with the `apiVersion` and `kind` of the request, serialized straight from the
/// stored object: adding the two fields to a copy would clone it, managedFields included.
/// Writes the bytes of such a copy: serde_json's maps here are sorted by key.
#[derive(Debug)]
pub struct Presented<'a> {
    pub object: &'a Value,
    pub api_version: Cow<'a, str>,
    pub kind: &'a str,
}

impl serde::Serialize for Presented<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(map) = self.object.as_object() else {
            return self.object.serialize(s);
        };
        let mut added = [
            ("apiVersion", self.api_version.as_ref()),
            ("kind", self.kind),
        ]
        .into_iter()
        .peekable();
        let mut out = s.serialize_map(None)?;
        for (key, value) in map {
            if key == "apiVersion" || key == "kind" {
                continue;
            }
            while let Some((k, v)) = added.next_if(|(k, _)| *k < key.as_str()) {
                out.serialize_entry(k, v)?;
            }
            out.serialize_entry(key, value)?;
        }
        for (k, v) in added {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

/// 404 for a missing namespace, 403 for a terminating one.
pub fn check_namespace(
    ctx: &Ctx<'_>,
    store: &StoreState,
    verb_creates: bool,
) -> Result<(), ApiError> {
    if !ctx.info.namespaced {
        return Ok(());
    }
    let ns = ctx.namespace();
    let Some(obj) = store.get(&ObjectKey::new("", "namespaces", "", ns)) else {
        return Err(ApiError::not_found("", "namespaces", ns));
    };
    if verb_creates && meta::is_deleting(obj) {
        return Err(ApiError::forbidden(format!(
            "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            crate::status::qualified(&ctx.info.group, &ctx.info.plural),
            ctx.name()
        ))
        .with_cause(
            "NamespaceTerminating",
            &format!("namespace {ns} is being terminated"),
            "metadata.namespace",
        ));
    }
    Ok(())
}

pub fn create(ctx: &Ctx<'_>, bytes: bytes::Bytes) -> Result<Response<Body>, ApiError> {
    if ctx.path.subresource.is_some() {
        return Err(ApiError::method_not_allowed(
            "create is not supported on subresources here",
        ));
    }
    if ctx.info.namespaced && ctx.path.namespace.is_none() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource (post)",
        ));
    }
    let mut object = body::decode_object(ctx, &bytes)?;
    let warnings = fields::check_fields(ctx, &object, false)?;
    let name = meta::prepare_create(ctx, &mut object)?;
    fields::normalize_custom(ctx, &mut object);
    fields::validate_custom(ctx, &object, None, None)?;
    default_builtin(ctx, &mut object);
    let object = fields::track_update(ctx, None, None, object)?;
    let key = key(ctx, &name);
    let mut store = ctx.state.store.lock();
    check_namespace(ctx, &store, true)?;
    if store.get(&key).is_some() {
        return Err(ApiError::already_exists(
            &ctx.info.group,
            &ctx.info.plural,
            &name,
        ));
    }
    let mut object = object;
    on_create(ctx, &mut object, &store)?;
    let stored = if ctx.query.dry_run {
        Arc::new(object)
    } else {
        store.put(key, object)
    };
    Ok(fields::with_warnings(
        json_response(StatusCode::CREATED, &present(ctx, &stored)),
        &warnings,
    ))
}

pub fn get(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    check_subresource(ctx)?;
    let store = ctx.state.store.lock();
    let object = store
        .get(&key(ctx, ctx.name()))
        .ok_or_else(|| ctx.not_found())?;
    if ctx.metadata_only {
        return Ok(ok(&super::partial::partial(object)));
    }
    if ctx.table {
        let spec = super::table::TableSpec::new(ctx, &store);
        let row = spec.row(&ctx.info, object, chrono::Utc::now());
        let rv = meta::meta_str(object, "resourceVersion").unwrap_or("");
        return Ok(ok(&spec.table(vec![row], json!({"resourceVersion": rv}))));
    }
    Ok(ok(&present(ctx, object)))
}

pub fn update(ctx: &Ctx<'_>, bytes: bytes::Bytes) -> Result<Response<Body>, ApiError> {
    let sub = check_subresource(ctx)?;
    let object = body::decode_object(ctx, &bytes)?;
    if let Some(n) = meta::meta_str(&object, "name")
        && !n.is_empty()
        && n != ctx.name()
    {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    let warnings = fields::check_fields(ctx, &object, false)?;
    write(ctx, sub, true, |_| Ok(object)).map(|r| fields::with_warnings(r, &warnings))
}

/// The shared write path of update and patch: under the store lock, read the current
/// object, let `change` produce the new one, check optimistic concurrency, carry over
/// server-owned fields, and store it — unless nothing changed.
pub fn write(
    ctx: &Ctx<'_>,
    subresource: Option<&str>,
    is_put: bool,
    change: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<Response<Body>, ApiError> {
    let info = &ctx.info;
    let name = ctx.name();
    let key = key(ctx, name);
    let mut store = ctx.state.store.lock();
    let old: Arc<Value> = store.get(&key).cloned().ok_or_else(|| ctx.not_found())?;
    let mut new = change(&old)?;
    let current_rv = meta::meta_str(&old, "resourceVersion")
        .unwrap_or("")
        .to_string();
    match meta::meta_str(&new, "resourceVersion") {
        Some(rv) if !rv.is_empty() && rv != current_rv => {
            return Err(ApiError::conflict_modified(&info.group, &info.plural, name));
        }
        None | Some("") if is_put && !info.builtin => {
            return Err(ApiError::invalid(
                &info.group,
                &info.kind,
                name,
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
            ));
        }
        _ => {}
    }
    meta::prepare_update(ctx, &old, &mut new, subresource);
    if subresource.is_none() && ctx.info.builtin {
        default_builtin(ctx, &mut new);
        crate::defaults::on_update(&ctx.info.group, &ctx.info.kind, &old, &mut new);
    }
    metadata_mut(&mut new).insert("resourceVersion".into(), Value::String(current_rv));
    fields::normalize_custom(ctx, &mut new);
    fields::validate_custom(ctx, &new, Some(&old), subresource)?;
    check_immutable(ctx, subresource, &old, &new)?;
    let mut new = fields::track_update(ctx, subresource, Some(&old), new)?;
    allocate_update(ctx, subresource, &old, &mut new, &store)?;
    // The last finalizer of a deleting object going away completes the deletion.
    if meta::is_deleting(&old) && !meta::has_finalizers(&new) {
        if ctx.query.dry_run {
            return Ok(ok(&present(ctx, &new)));
        }
        store.remove(&key);
        return Ok(ok(&present(ctx, &new)));
    }
    if meta::is_noop(&old, &new) || ctx.query.dry_run {
        return Ok(ok(&present(ctx, &new)));
    }
    let stored = store.put(key, new);
    Ok(ok(&present(ctx, &stored)))
}

/// The decode-time defaults of a built-in kind.
pub fn default_builtin(ctx: &Ctx<'_>, object: &mut Value) {
    if ctx.info.builtin {
        crate::defaults::apply(&ctx.info.group, &ctx.info.kind, object);
    }
}

/// The registry's part of creating a built-in object (after the field manager ran).
pub fn on_create(ctx: &Ctx<'_>, object: &mut Value, store: &StoreState) -> Result<(), ApiError> {
    if !ctx.info.builtin {
        return Ok(());
    }
    let (group, kind) = (&ctx.info.group, &ctx.info.kind);
    let cidr = &ctx.state.config.service_cidr;
    crate::defaults::on_create(group, kind, object, store, cidr, ctx.query.dry_run)
}

/// The registry's allocations on an update of a built-in object's main resource (after
/// validation and the field manager, under the store lock).
pub fn allocate_update(
    ctx: &Ctx<'_>,
    subresource: Option<&str>,
    old: &Value,
    new: &mut Value,
    store: &StoreState,
) -> Result<(), ApiError> {
    if subresource.is_some() || !ctx.info.builtin {
        return Ok(());
    }
    let (group, kind) = (&ctx.info.group, &ctx.info.kind);
    let cidr = &ctx.state.config.service_cidr;
    crate::defaults::allocate_update(group, kind, old, new, store, cidr, ctx.query.dry_run)
}

/// The update validation of built-in kinds' immutable fields (main resource only).
pub fn check_immutable(
    ctx: &Ctx<'_>,
    subresource: Option<&str>,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if subresource.is_some() || !ctx.info.builtin {
        return Ok(());
    }
    crate::immutable::check(&ctx.info.group, &ctx.info.kind, old, new)
}

/// The parts of `DeleteOptions` kubesim honours.
#[derive(Debug, Default)]
struct DeleteOptions {
    uid: Option<String>,
    resource_version: Option<String>,
    dry_run: bool,
    propagation: Option<String>,
    orphan_dependents: Option<bool>,
}

fn delete_options(ctx: &Ctx<'_>, bytes: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut o = DeleteOptions {
        dry_run: ctx.query.dry_run,
        propagation: ctx.query.propagation_policy.clone(),
        ..Default::default()
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(o);
    }
    let v =
        if body::media_type(ctx.content_type.as_deref()) == "application/vnd.kubernetes.protobuf" {
            crate::protobuf::decode(bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        } else {
            body::parse_json_or_yaml(bytes, true)?
        };
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    o.uid = s("/preconditions/uid");
    o.resource_version = s("/preconditions/resourceVersion");
    if let Some(p) = s("/propagationPolicy") {
        o.propagation = Some(p);
    }
    o.orphan_dependents = v.get("orphanDependents").and_then(Value::as_bool);
    if let Some(Value::Array(d)) = v.get("dryRun") {
        o.dry_run |= d.iter().any(|x| x == "All");
    }
    Ok(o)
}

/// Deletes `key` in `store` following the deletion rules; returns the object to report.
///
/// An object with finalizers gets a `deletionTimestamp` and stays; one without is removed.
/// A namespace becomes Terminating (the caller starts its cleanup). This is Background
/// propagation; [`crate::gc::delete`] handles the others.
pub fn delete_locked(store: &mut StoreState, key: &ObjectKey, dry_run: bool) -> Option<Value> {
    if crate::namespaces::is_namespace(key) {
        return crate::namespaces::begin_termination(store, key, dry_run);
    }
    let current = store.get(key)?.clone();
    let mut object = (*current).clone();
    if meta::has_finalizers(&object) {
        if meta::is_deleting(&object) {
            return Some(object);
        }
        let m = metadata_mut(&mut object);
        m.insert("deletionTimestamp".into(), Value::String(meta::now()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        if dry_run {
            return Some(object);
        }
        return Some((*store.put(key.clone(), object)).clone());
    }
    if dry_run {
        return Some(object);
    }
    store.remove(key).map(|o| (*o).clone())
}

/// The propagation policy of a delete (from `propagationPolicy`, the deprecated
/// `orphanDependents`, else the kind's default) and the warnings it brings.
pub fn propagation(
    ctx: &Ctx<'_>,
    policy: Option<&str>,
    orphan_dependents: Option<bool>,
) -> Result<(crate::gc::Propagation, Vec<String>), ApiError> {
    use crate::gc::Propagation;
    if let Some(p) = policy.filter(|p| !p.is_empty()) {
        return Ok((Propagation::parse(p)?, Vec::new()));
    }
    match orphan_dependents {
        Some(true) => return Ok((Propagation::Orphan, Vec::new())),
        Some(false) => return Ok((Propagation::Background, Vec::new())),
        None => {}
    }
    let default = Propagation::default_for(&ctx.info.group, &ctx.info.plural);
    let warnings = if ctx.info.group == "batch" && ctx.info.plural == "jobs" {
        vec![crate::gc::JOB_ORPHAN_WARNING.to_string()]
    } else {
        Vec::new()
    };
    Ok((default, warnings))
}

/// Starts the namespace controller's work for namespaces a delete just marked.
pub fn after_delete(ctx: &Ctx<'_>, keys: &[ObjectKey]) {
    if ctx.query.dry_run {
        return;
    }
    for k in keys.iter().filter(|k| crate::namespaces::is_namespace(k)) {
        crate::namespaces::spawn_cleanup(ctx.state.clone(), k.name.clone());
    }
}

pub fn delete(ctx: &Ctx<'_>, bytes: bytes::Bytes) -> Result<Response<Body>, ApiError> {
    if ctx.path.subresource.is_some() {
        return Err(ApiError::method_not_allowed(
            "delete is not supported on subresources",
        ));
    }
    let opts = delete_options(ctx, &bytes)?;
    let key = key(ctx, ctx.name());
    let mut store = ctx.state.store.lock();
    let current = store.get(&key).cloned().ok_or_else(|| ctx.not_found())?;
    let info = &ctx.info;
    for (field, label, expected) in [
        ("uid", "UID", &opts.uid),
        ("resourceVersion", "ResourceVersion", &opts.resource_version),
    ] {
        let actual = meta::meta_str(&current, field);
        if let Some(expected) = expected
            && actual != Some(expected.as_str())
        {
            return Err(ApiError::conflict(
                &info.group,
                &info.plural,
                ctx.name(),
                &format!(
                    "Precondition failed: {label} in precondition: {expected}, {label} in object meta: {}",
                    actual.unwrap_or("")
                ),
            ));
        }
    }
    let (policy, warnings) = propagation(ctx, opts.propagation.as_deref(), opts.orphan_dependents)?;
    let object =
        crate::gc::delete(&mut store, &key, opts.dry_run, policy).ok_or_else(|| ctx.not_found())?;
    drop(store);
    after_delete(ctx, std::slice::from_ref(&key));
    let ok = |v: &Value| fields::with_warnings(ok(v), &warnings);
    // A deletion still pending (finalizers, a terminating namespace) answers with the
    // object, as does any custom resource; a finished deletion of a built-in answers with
    // a Success Status, as the real registry does.
    if meta::is_deleting(&object) || !info.builtin {
        return Ok(fields::with_warnings(
            super::ok(&present(ctx, &object)),
            &warnings,
        ));
    }
    let mut details = json!({
        "name": ctx.name(),
        "kind": info.plural,
        "uid": meta::meta_str(&object, "uid").unwrap_or(""),
    });
    if !info.group.is_empty() {
        details["group"] = json!(info.group);
    }
    Ok(ok(&json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Presented` writes exactly the bytes of a copy with the two fields added.
    #[test]
    fn presented_matches_present() {
        for object in [
            json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
            json!({"apiVersion": "old", "kind": "Old", "metadata": {}, "spec": {"x": 1}}),
            json!({"a": 1, "apiVersion": "v0", "b": 2, "kind": "K", "z": 3}),
            json!({"ab": 1, "kz": 2}),
            json!({}),
            json!("not an object"),
        ] {
            let mut copy = object.clone();
            if let Some(map) = copy.as_object_mut() {
                map.insert("apiVersion".into(), json!("apps/v1"));
                map.insert("kind".into(), json!("Deployment"));
            }
            let presented = Presented {
                object: &object,
                api_version: Cow::Borrowed("apps/v1"),
                kind: "Deployment",
            };
            assert_eq!(
                String::from_utf8(serde_json::to_vec(&presented).unwrap()).unwrap(),
                String::from_utf8(serde_json::to_vec(&copy).unwrap()).unwrap(),
            );
        }
    }
}
