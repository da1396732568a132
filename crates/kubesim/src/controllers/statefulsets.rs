//! The StatefulSet controller: pods `<set>-0` … `<set>-<n-1>` with stable names, hostname
//! and subdomain, one PersistentVolumeClaim `<claim>-<set>-<i>` per volume claim template,
//! created in order, each after the one before is Ready (`OrderedReady`; all at once for
//! `Parallel`), removed from the highest ordinal down, and replaced from the highest
//! ordinal down when the template changes (`RollingUpdate`). The status carries the
//! replica counts and the current and update revisions (`<set>-<template hash>`).

use super::Cx;
use super::common::{self, int, owned, pod_ready, status_mut};
use crate::api::meta::{self, metadata_mut};
use crate::api::objects::delete_locked;
use crate::store::{ObjectKey, StoreState};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const REVISION_LABEL: &str = "controller-revision-hash";

fn ordinal(set: &str, pod: &str) -> Option<i64> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

fn revision_of(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/labels")?
        .get(REVISION_LABEL)?
        .as_str()
}

fn claim_templates(set: &Value) -> Vec<Value> {
    set.pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Creates the claims pod `i` mounts, unless they exist.
fn ensure_claims(store: &mut StoreState, set: &Value, key: &ObjectKey, i: i64) {
    let delete_with_set = set
        .pointer("/spec/persistentVolumeClaimRetentionPolicy/whenDeleted")
        .and_then(Value::as_str)
        == Some("Delete");
    let selector = set
        .pointer("/spec/selector/matchLabels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    for template in claim_templates(set) {
        let claim = meta::meta_str(&template, "name").unwrap_or("");
        let name = format!("{claim}-{}-{i}", key.name);
        let claim_key = ObjectKey::new("", "persistentvolumeclaims", &key.namespace, &name);
        if store.get(&claim_key).is_some() {
            continue;
        }
        let mut pvc = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": template.get("metadata").cloned().unwrap_or_else(|| json!({})),
            "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
        });
        let m = metadata_mut(&mut pvc);
        let labels = m.entry("labels").or_insert_with(|| json!({}));
        if let (Some(l), Some(sel)) = (labels.as_object_mut(), selector.as_object()) {
            for (k, v) in sel {
                l.insert(k.clone(), v.clone());
            }
        }
        if delete_with_set {
            m.insert(
                "ownerReferences".into(),
                json!([common::owner_reference(set, "apps/v1", "StatefulSet")]),
            );
        }
        common::create(store, claim_key, pvc, false);
    }
}

fn new_pod(set: &Value, key: &ObjectKey, i: i64, revision: &str) -> Value {
    let name = format!("{}-{i}", key.name);
    let template = set.pointer("/spec/template").cloned().unwrap_or_default();
    let owner = common::owner_reference(set, "apps/v1", "StatefulSet");
    let index = i.to_string();
    let mut pod = common::pod_from_template(
        &template,
        owner,
        &[
            (REVISION_LABEL, revision),
            ("statefulset.kubernetes.io/pod-name", &name),
            ("apps.kubernetes.io/pod-index", &index),
        ],
    );
    let spec = pod.get_mut("spec").and_then(Value::as_object_mut);
    if let Some(spec) = spec {
        spec.insert("hostname".into(), json!(name));
        if let Some(service) = set.pointer("/spec/serviceName").and_then(Value::as_str)
            && !service.is_empty()
        {
            spec.insert("subdomain".into(), json!(service));
        }
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(vs) = volumes.as_array_mut() {
            for t in claim_templates(set) {
                let claim = meta::meta_str(&t, "name").unwrap_or("").to_string();
                if !vs.iter().any(|v| v.get("name") == Some(&json!(claim))) {
                    vs.push(json!({
                        "name": claim,
                        "persistentVolumeClaim": {"claimName": format!("{claim}-{}-{i}", key.name)},
                    }));
                }
            }
        }
    }
    pod
}

pub fn reconcile(cx: &mut Cx<'_>, store: &mut StoreState, key: &ObjectKey) {
    let Some(set) = common::active(store, key) else {
        return;
    };
    let uid = meta::meta_str(&set, "uid").unwrap_or("").to_string();
    let replicas = int(&set, "/spec/replicas", 1).max(0);
    let ordered = set
        .pointer("/spec/podManagementPolicy")
        .and_then(Value::as_str)
        != Some("Parallel");
    let rolling = set
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        != Some("OnDelete");
    let revision = format!(
        "{}-{}",
        key.name,
        common::template_hash(set.pointer("/spec/template").unwrap_or(&Value::Null))
    );
    let pods: BTreeMap<i64, (ObjectKey, Arc<Value>)> =
        owned(store, "", "pods", &key.namespace, &uid)
            .into_iter()
            .filter_map(|(k, p)| Some((ordinal(&key.name, &k.name)?, (k, p))))
            .collect();
    // Finished pods are replaced, as the real controller recreates failed ones.
    for (k, p) in pods.values() {
        if super::pods::finished(p) {
            delete_locked(store, k, false);
        }
    }
    let live = |i: i64| pods.get(&i).filter(|(_, p)| !super::pods::finished(p));
    let mut changed = false;
    for i in 0..replicas {
        if live(i).is_some() {
            if ordered && !live(i).is_some_and(|(_, p)| pod_ready(p)) {
                break;
            }
            continue;
        }
        ensure_claims(store, &set, key, i);
        let pod_key = ObjectKey::new("", "pods", &key.namespace, &format!("{}-{i}", key.name));
        if store.get(&pod_key).is_none() {
            common::create(
                store,
                pod_key.clone(),
                new_pod(&set, key, i, &revision),
                false,
            );
            cx.enqueue(pod_key);
            changed = true;
        }
        if ordered {
            break;
        }
    }
    // Scale down from the highest ordinal; one at a time when ordered.
    for (_, (k, _)) in pods.range(replicas..).rev() {
        delete_locked(store, k, false);
        changed = true;
        if ordered {
            break;
        }
    }
    let all_ready = (0..replicas).all(|i| live(i).is_some_and(|(_, p)| pod_ready(p)));
    if !changed && rolling && all_ready {
        let outdated = (0..replicas)
            .rev()
            .find_map(|i| live(i).filter(|(_, p)| revision_of(p) != Some(revision.as_str())));
        if let Some((k, _)) = outdated {
            delete_locked(store, k, false);
        }
    }
    write_status(store, key, &set, &uid, &revision);
}

fn write_status(
    store: &mut StoreState,
    key: &ObjectKey,
    set: &Arc<Value>,
    uid: &str,
    revision: &str,
) {
    let pods: Vec<_> = owned(store, "", "pods", &key.namespace, uid)
        .into_iter()
        .filter(|(_, p)| !super::pods::finished(p))
        .collect();
    let replicas = int(set, "/spec/replicas", 1).max(0);
    let count = |f: &dyn Fn(&Value) -> bool| pods.iter().filter(|(_, p)| f(p)).count() as i64;
    let updated = count(&|p| revision_of(p) == Some(revision));
    let ready = count(&pod_ready);
    let mut new = (**set).clone();
    let s = status_mut(&mut new);
    let current = if updated == replicas && pods.len() as i64 == replicas {
        revision.to_string()
    } else {
        s.get("currentRevision")
            .and_then(Value::as_str)
            .unwrap_or(revision)
            .to_string()
    };
    let current_replicas = count(&|p| revision_of(p) == Some(current.as_str()));
    for (field, value) in [
        ("replicas", pods.len() as i64),
        ("readyReplicas", ready),
        ("availableReplicas", ready),
        ("currentReplicas", current_replicas),
        ("updatedReplicas", updated),
    ] {
        if value == 0 && field != "replicas" {
            s.remove(field);
        } else {
            s.insert(field.into(), json!(value));
        }
    }
    s.insert("currentRevision".into(), json!(current));
    s.insert("updateRevision".into(), json!(revision));
    s.insert("collisionCount".into(), json!(0));
    s.insert(
        "observedGeneration".into(),
        json!(int(set, "/metadata/generation", 1)),
    );
    common::write(store, key, set, new);
}
