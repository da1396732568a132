//! Server-set metadata: what the API server writes into objects on create and update.
//!
//! - create: `uid`, `creationTimestamp`, `generation: 1` (for kinds that track it), name
//!   from `generateName`, namespace from the path; status reset for kinds with a status
//!   subresource (the main resource cannot set it);
//! - update: identity fields carried over from the stored object, `generation` bumped only
//!   when something outside `metadata` and `status` changed, and the main resource and the
//!   `status` subresource each ignoring the other's part.

use super::Ctx;
use crate::status::ApiError;
use serde_json::{Map, Value, json};

/// Now, as the API server formats timestamps (RFC 3339, seconds, UTC).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Five characters from the alphabet `generateName` suffixes use (no vowels, no look-alikes).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .take(5)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

pub fn metadata(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata").and_then(Value::as_object)
}

pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    map_mut(object, "metadata")
}

/// The map at `object[key]`, made an empty one first if it is absent or not a map.
pub fn map_mut<'a>(object: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !object.get(key).is_some_and(Value::is_object) {
        object[key] = json!({});
    }
    match object.get_mut(key) {
        Some(Value::Object(m)) => m,
        // Just ensured to be an object.
        _ => unreachable!("{key} was set to an object above"),
    }
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    metadata(object)?.get(field)?.as_str()
}

fn alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// An RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

/// An RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// The name rule of the real server: namespaces are labels, everything else subdomains.
fn check_name(ctx: &Ctx<'_>, name: &str) -> Result<(), ApiError> {
    let info = &ctx.info;
    let namespace = info.builtin && info.group.is_empty() && info.kind == "Namespace";
    let (ok, what, example, regex) = if namespace {
        (
            is_dns_label(name),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            "my-name', or '123-abc",
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?",
        )
    } else {
        (
            is_dns_subdomain(name),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            "example.com",
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
        )
    };
    if ok {
        return Ok(());
    }
    let detail = format!(
        "Invalid value: \"{name}\": {what} (e.g. '{example}', regex used for validation is '{regex}')"
    );
    Err(ApiError::invalid(
        &info.group,
        &info.kind,
        name,
        "metadata.name",
        &detail,
    ))
}

/// Applies create-time defaults and server-set fields; returns the object's name.
pub fn prepare_create(ctx: &Ctx<'_>, object: &mut Value) -> Result<String, ApiError> {
    let info = &ctx.info;
    let path_ns = ctx.namespace().to_string();
    let meta = metadata_mut(object);
    if meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let mut name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        let prefix = meta
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if prefix.is_empty() {
            return Err(ApiError::invalid(
                &info.group,
                &info.kind,
                "",
                "metadata.name",
                "Required value: name or generateName is required",
            ));
        }
        name = format!("{prefix}{}", random_suffix());
        meta.insert("name".into(), Value::String(name.clone()));
    }
    check_name(ctx, &name)?;
    if info.namespaced {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != path_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), Value::String(path_ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    meta.insert(
        "uid".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    meta.insert("creationTimestamp".into(), Value::String(now()));
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    if info.tracks_generation() {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    if let Some(map) = object.as_object_mut() {
        if info.has_subresource("status") {
            map.remove("status");
        }
        // The one defaulting rule the clients here depend on: Secret type.
        if info.builtin && info.group.is_empty() && info.kind == "Secret" {
            map.entry("type").or_insert_with(|| json!("Opaque"));
        }
        if info.builtin && info.group.is_empty() && info.kind == "Namespace" {
            map.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            map.insert("status".into(), json!({"phase": "Active"}));
            let labels = metadata_mut(object)
                .entry("labels")
                .or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert(
                    "kubernetes.io/metadata.name".into(),
                    Value::String(name.clone()),
                );
            }
        }
    }
    Ok(name)
}

/// Everything but `metadata` and `status`: what `generation` tracks.
fn spec_part(object: &Value) -> Map<String, Value> {
    object
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Carries server-owned fields from `old` into `new` for an update of the main resource
/// (`subresource` None) or of `status`.
pub fn prepare_update(ctx: &Ctx<'_>, old: &Value, new: &mut Value, subresource: Option<&str>) {
    let info = &ctx.info;
    if subresource == Some("status") {
        // A status write changes only status: everything else comes from the stored object,
        // except the managedFields the field manager just computed for this write.
        let status = new.get("status").cloned();
        let managed = new.pointer("/metadata/managedFields").cloned();
        *new = old.clone();
        if let Some(m) = managed {
            metadata_mut(new).insert("managedFields".into(), m);
        }
        match (new.as_object_mut(), status) {
            (Some(map), Some(s)) => {
                map.insert("status".into(), s);
            }
            (Some(map), None) => {
                map.remove("status");
            }
            _ => {}
        }
        return;
    }
    if info.has_subresource("status")
        && let Some(map) = new.as_object_mut()
    {
        match old.get("status") {
            Some(s) => {
                map.insert("status".into(), s.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    let old_meta = metadata(old).cloned().unwrap_or_default();
    let meta = metadata_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match old_meta.get(field) {
            Some(v) => {
                meta.insert(field.into(), v.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
    if info.tracks_generation() && spec_part(old) != spec_part(new) {
        let g = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        metadata_mut(new).insert("generation".into(), json!(g + 1));
    }
}

/// Whether `new` differs from `old` in anything but resourceVersion and managedFields
/// timestamps; an unchanged write keeps the resourceVersion and emits no event.
pub fn is_noop(old: &Value, new: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            if let Some(Value::Array(entries)) = m.get_mut("managedFields") {
                for e in entries {
                    if let Some(e) = e.as_object_mut() {
                        e.remove("time");
                    }
                }
            }
        }
        v
    }
    strip(old) == strip(new)
}

/// `metadata.finalizers` is non-empty.
pub fn has_finalizers(object: &Value) -> bool {
    metadata(object)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

pub fn is_deleting(object: &Value) -> bool {
    metadata(object)
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns_label("web-1"));
        assert!(!is_dns_label("Web"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a.b"));
        assert!(is_dns_subdomain("widgets.example.com"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(!is_dns_subdomain(&"a".repeat(254)));
    }
}
