//! What the simulated controllers share: owner references, creating and rewriting objects
//! in the store, status conditions, and the behaviour an object inherits.

use super::behavior::{self, Behavior, WorkloadConfig};
use crate::api::meta::{self, metadata, metadata_mut};
use crate::store::{ObjectKey, StoreState};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The object at `key` for its workload controller to reconcile: none when it is gone or
/// being deleted, as the controller then does nothing.
pub fn active(store: &StoreState, key: &ObjectKey) -> Option<Arc<Value>> {
    store.get(key).filter(|o| !meta::is_deleting(o)).cloned()
}

/// The resource a kind of controller owner is stored under.
pub fn owner_resource(api_version: &str, kind: &str) -> Option<(&'static str, &'static str)> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, kind) {
        ("apps", "Deployment") => Some(("apps", "deployments")),
        ("apps", "ReplicaSet") => Some(("apps", "replicasets")),
        ("apps", "StatefulSet") => Some(("apps", "statefulsets")),
        ("apps", "DaemonSet") => Some(("apps", "daemonsets")),
        ("batch", "Job") => Some(("batch", "jobs")),
        _ => None,
    }
}

/// The `ownerReferences` entry with `controller: true`, if any.
pub fn controller_ref(object: &Value) -> Option<&Value> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

/// Where the controller of `object` (in `namespace`) is stored.
pub fn controller_key(object: &Value, namespace: &str) -> Option<ObjectKey> {
    let r = controller_ref(object)?;
    let (group, resource) =
        owner_resource(r.get("apiVersion")?.as_str()?, r.get("kind")?.as_str()?)?;
    Some(ObjectKey::new(
        group,
        resource,
        namespace,
        r.get("name")?.as_str()?,
    ))
}

/// Whether `object`'s controller is the object with uid `uid`.
pub fn controlled_by(object: &Value, uid: &str) -> bool {
    controller_ref(object)
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
        == Some(uid)
}

/// An owner reference to `owner`, as controllers set it.
pub fn owner_reference(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": meta::meta_str(owner, "name").unwrap_or(""),
        "uid": meta::meta_str(owner, "uid").unwrap_or(""),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The objects of `group/resource` in `namespace` that `uid` controls, not being deleted.
pub fn owned(
    store: &StoreState,
    group: &str,
    resource: &str,
    namespace: &str,
    uid: &str,
) -> Vec<(ObjectKey, Arc<Value>)> {
    store
        .list(group, resource, Some(namespace))
        .filter(|(_, o)| controlled_by(o, uid) && !meta::is_deleting(o))
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect()
}

/// Whether new objects may go into `namespace`: it exists and is not terminating (the
/// API server refuses controllers' creates there too).
pub fn accepts_content(store: &StoreState, namespace: &str) -> bool {
    namespace.is_empty()
        || store
            .get(&ObjectKey::new("", "namespaces", "", namespace))
            .is_some_and(|ns| !meta::is_deleting(ns))
}

/// Stores a new object the way the API server would create it (defaults, uid,
/// creationTimestamp, generation) under its name in `key`; nothing in a namespace that is
/// gone or terminating.
pub fn create(store: &mut StoreState, key: ObjectKey, mut object: Value, tracks_generation: bool) {
    if !accepts_content(store, &key.namespace) {
        return;
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    crate::defaults::apply(&key.group, &kind, &mut object);
    // Only Services need the cluster's service range (and only their allocations can
    // fail), and controllers create none.
    if crate::defaults::on_create(&key.group, &kind, &mut object, store, "", false).is_err() {
        return;
    }
    let m = metadata_mut(&mut object);
    m.insert("name".into(), json!(key.name));
    if !key.namespace.is_empty() {
        m.insert("namespace".into(), json!(key.namespace));
    }
    m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    m.insert("creationTimestamp".into(), json!(meta::now()));
    if tracks_generation {
        m.insert("generation".into(), json!(1));
    }
    store.put(key, object);
}

/// Creates `object` under a free name `<prefix><5 random characters>` (`generateName`)
/// next to `like`; returns its key.
pub fn create_generated(
    store: &mut StoreState,
    like: &ObjectKey,
    prefix: &str,
    mut object: Value,
) -> ObjectKey {
    let key = loop {
        let key = ObjectKey::new(
            &like.group,
            &like.resource,
            &like.namespace,
            &format!("{prefix}{}", meta::random_suffix()),
        );
        if store.get(&key).is_none() {
            break key;
        }
    };
    metadata_mut(&mut object).insert("generateName".into(), json!(prefix));
    create(store, key.clone(), object, false);
    key
}

/// Stores `new` if it differs from `old`; a controller's write that changes nothing keeps
/// the resourceVersion and emits no event, as with any other client.
pub fn write(store: &mut StoreState, key: &ObjectKey, old: &Value, new: Value) -> bool {
    if meta::is_noop(old, &new) {
        return false;
    }
    store.put(key.clone(), new);
    true
}

/// The status map of an object, created if missing.
pub fn status_mut(object: &mut Value) -> &mut Map<String, Value> {
    meta::map_mut(object, "status")
}

/// An integer field, or `default` when absent.
pub fn int(object: &Value, pointer: &str, default: i64) -> i64 {
    object
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// A status condition as workload controllers write it.
#[derive(Debug)]
pub struct Condition<'a> {
    pub kind: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub message: String,
}

/// Sets `condition` in `status.conditions` (creating the list): `lastTransitionTime`
/// moves only when the status flips, `lastUpdateTime` (when `update_time`) when anything
/// about the condition changes or `touch` says progress was made.
pub fn set_condition(
    status: &mut Map<String, Value>,
    condition: Condition<'_>,
    now: &str,
    update_time: bool,
    touch: bool,
) {
    let conditions = status
        .entry("conditions")
        .or_insert_with(|| json!([]))
        .as_array_mut();
    let Some(conditions) = conditions else {
        return;
    };
    let existing = conditions
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(condition.kind));
    let mut new = json!({
        "type": condition.kind,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
        "lastTransitionTime": now,
    });
    if update_time {
        new["lastUpdateTime"] = json!(now);
    }
    match existing {
        Some(old) => {
            let same = |f: &str| old.get(f) == new.get(f);
            let same_status = same("status");
            let unchanged = same_status && same("reason") && same("message");
            if same_status {
                new["lastTransitionTime"] = old["lastTransitionTime"].clone();
            }
            if update_time && !touch && unchanged {
                new["lastUpdateTime"] = old["lastUpdateTime"].clone();
            }
            *old = new;
        }
        None => conditions.push(new),
    }
}

/// The condition of type `kind` in `object`'s status.
pub fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

/// Whether `object` has condition `kind` with status True.
pub fn condition_true(object: &Value, kind: &str) -> bool {
    condition(object, kind).and_then(|c| c.get("status")) == Some(&json!("True"))
}

fn annotation<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    metadata(object)?.get("annotations")?.get(name)?.as_str()
}

/// An annotation of `object`, else of its pod template, else of its controller chain.
pub fn inherited<'a>(
    store: &'a StoreState,
    object: &'a Value,
    namespace: &str,
    name: &str,
) -> Option<&'a str> {
    let mut current = object;
    for _ in 0..3 {
        if let Some(v) = annotation(current, name).or_else(|| {
            current
                .pointer("/spec/template")
                .and_then(|t| annotation(t, name))
        }) {
            return Some(v);
        }
        current = store.get(&controller_key(current, namespace)?)?;
    }
    None
}

/// The behaviour and stage delay `object` gets (annotations, else the cluster's default).
pub fn behavior_of(
    store: &StoreState,
    config: &WorkloadConfig,
    object: &Value,
    namespace: &str,
) -> (Behavior, Duration) {
    let b = inherited(store, object, namespace, behavior::BEHAVIOR)
        .and_then(Behavior::parse)
        .unwrap_or(config.behavior);
    let d = inherited(store, object, namespace, behavior::DELAY)
        .and_then(behavior::parse_duration)
        .unwrap_or(config.delay);
    (b, d)
}

/// A pod status that is Ready.
pub fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
        && condition_true(pod, "Ready")
}

/// The phase of a pod, `""` before it has one.
pub fn pod_phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A pod from `template` owned by `owner`, with extra labels.
pub fn pod_from_template(
    template: &Value,
    owner_ref: Value,
    extra_labels: &[(&str, &str)],
) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
    let m = metadata_mut(&mut pod);
    m.remove("name");
    m.remove("namespace");
    m.remove("creationTimestamp");
    m.insert("ownerReferences".into(), json!([owner_ref]));
    let labels = m.entry("labels").or_insert_with(|| json!({}));
    if let Some(l) = labels.as_object_mut() {
        for (k, v) in extra_labels {
            l.insert(k.to_string(), json!(v));
        }
    }
    pod
}

/// 32-bit FNV-1a, as the controllers hash pod templates.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A template hash in the form the real controllers print it (`rand.SafeEncodeString` of
/// the decimal hash: consonants and digits, no vowels).
pub fn template_hash(template: &Value) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digits = fnv32a(&serde_json::to_vec(template).unwrap_or_default()).to_string();
    digits
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// `maxUnavailable`/`maxSurge`: an integer or a percentage of `total`, rounded as the
/// Deployment controller rounds (`round_up` for surge).
pub fn int_or_percent(v: Option<&Value>, total: i64, default: &str, round_up: bool) -> i64 {
    let parse = |s: &str| -> Option<i64> {
        let p: f64 = s.strip_suffix('%')?.parse().ok()?;
        let x = p * total as f64 / 100.0;
        Some(if round_up { x.ceil() } else { x.floor() } as i64)
    };
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => parse(s).or_else(|| s.parse().ok()).unwrap_or(0),
        _ => parse(default).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_times_unless_changed() {
        let mut status = Map::new();
        let c = |s: &'static str| Condition {
            kind: "Available",
            status: s,
            reason: "R",
            message: "m".into(),
        };
        set_condition(&mut status, c("False"), "t1", true, false);
        set_condition(&mut status, c("False"), "t2", true, false);
        assert_eq!(status["conditions"][0]["lastUpdateTime"], "t1");
        set_condition(&mut status, c("True"), "t3", true, false);
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "t3");
        set_condition(&mut status, c("True"), "t4", true, true);
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "t3");
        assert_eq!(status["conditions"][0]["lastUpdateTime"], "t4");
    }

    #[test]
    fn template_hash_is_stable_and_safe() {
        let t = json!({"spec": {"containers": [{"name": "a", "image": "nginx"}]}});
        let h = template_hash(&t);
        assert_eq!(h, template_hash(&t.clone()));
        assert!(h.chars().all(|c| !"aeiou".contains(c)), "{h}");
        assert_ne!(h, template_hash(&json!({"spec": {}})));
    }

    #[test]
    fn nothing_is_created_in_a_terminating_or_missing_namespace() {
        let store = crate::store::Store::new(10);
        let mut s = store.lock();
        let ns = |name: &str, deleting: bool| {
            let mut o = json!({"metadata": {"name": name}});
            if deleting {
                o["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            }
            o
        };
        s.put(
            ObjectKey::new("", "namespaces", "", "live"),
            ns("live", false),
        );
        s.put(
            ObjectKey::new("", "namespaces", "", "gone"),
            ns("gone", true),
        );
        for namespace in ["live", "gone", "missing"] {
            let key = ObjectKey::new("", "configmaps", namespace, "c");
            create(&mut s, key.clone(), json!({"kind": "ConfigMap"}), false);
            assert_eq!(s.get(&key).is_some(), namespace == "live", "{namespace}");
        }
    }

    #[test]
    fn percentages() {
        assert_eq!(int_or_percent(None, 4, "25%", false), 1);
        assert_eq!(int_or_percent(None, 1, "25%", false), 0);
        assert_eq!(int_or_percent(None, 1, "25%", true), 1);
        assert_eq!(int_or_percent(Some(&json!(2)), 4, "25%", false), 2);
        assert_eq!(int_or_percent(Some(&json!("50%")), 4, "25%", false), 2);
    }
}
