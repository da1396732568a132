//! The Deployment controller: one ReplicaSet per pod template (named
//! `<deployment>-<pod-template-hash>`, labelled with the hash, owned by the Deployment and
//! numbered by the `deployment.kubernetes.io/revision` annotation), a rollout that scales
//! the new ReplicaSet up and the old ones down as new pods become available (all at once
//! for `Recreate`), old ReplicaSets pruned to `revisionHistoryLimit`, and the status
//! `kubectl rollout status`, kstatus and Helm read: replica counts, `observedGeneration`,
//! Available (MinimumReplicasAvailable) and Progressing (NewReplicaSetCreated,
//! ReplicaSetUpdated, NewReplicaSetAvailable, or ProgressDeadlineExceeded once
//! `progressDeadlineSeconds` pass without progress).

use super::Cx;
use super::common::{self, Condition, int, owned, set_condition, status_mut};
use super::replicasets::available;
use crate::api::meta::{self, metadata_mut};
use crate::api::objects::delete_locked;
use crate::store::{ObjectKey, StoreState};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn hash_of(rs: &Value) -> Option<&str> {
    rs.pointer("/metadata/labels")?.get(HASH_LABEL)?.as_str()
}

/// The ReplicaSet for the Deployment's current template.
fn new_replica_set(d: &Value, hash: &str, revision: i64, replicas: i64) -> Value {
    let mut template = d
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(l) = metadata_mut(&mut template)
        .entry("labels")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        l.insert(HASH_LABEL.into(), json!(hash));
    }
    let mut selector = d
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(s) = selector.as_object_mut() {
        let labels = s.entry("matchLabels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert(HASH_LABEL.into(), json!(hash));
        }
    }
    // The Deployment's own annotations travel to its ReplicaSets, except client ones.
    let mut annotations: Map<String, Value> = d
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.iter()
                .filter(|(k, _)| {
                    k.as_str() != "kubectl.kubernetes.io/last-applied-configuration"
                        && !k.starts_with("deployment.kubernetes.io/")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    annotations.insert(REVISION.into(), json!(revision.to_string()));
    annotations.insert(
        "deployment.kubernetes.io/desired-replicas".into(),
        json!(replicas.to_string()),
    );
    annotations.insert(
        "deployment.kubernetes.io/max-replicas".into(),
        json!((replicas + surge(d, replicas)).to_string()),
    );
    let labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut spec = json!({"replicas": replicas, "selector": selector, "template": template});
    if let Some(m) = d.pointer("/spec/minReadySeconds") {
        spec["minReadySeconds"] = m.clone();
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [common::owner_reference(d, "apps/v1", "Deployment")],
        },
        "spec": spec,
    })
}

fn recreate(d: &Value) -> bool {
    d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate")
}

/// The replicas of a Deployment's new ReplicaSet: `replicas`, but none while a Recreate
/// Deployment's `old` ReplicaSets still have pods.
fn new_replicas(d: &Value, replicas: i64, old: &[(ObjectKey, Arc<Value>)]) -> i64 {
    let old_pods: i64 = old
        .iter()
        .map(|(_, rs)| int(rs, "/status/replicas", 0))
        .sum();
    if recreate(d) && old_pods > 0 {
        0
    } else {
        replicas
    }
}

fn surge(d: &Value, replicas: i64) -> i64 {
    if recreate(d) {
        return 0;
    }
    common::int_or_percent(
        d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
        replicas,
        "25%",
        true,
    )
}

fn max_unavailable(d: &Value, replicas: i64) -> i64 {
    if recreate(d) || replicas == 0 {
        return 0;
    }
    common::int_or_percent(
        d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        replicas,
        "25%",
        false,
    )
}

/// Sets `spec.replicas` (and an annotation) of a ReplicaSet if they differ.
fn scale(
    store: &mut StoreState,
    key: &ObjectKey,
    rs: &Arc<Value>,
    replicas: i64,
    rev: Option<i64>,
) {
    let mut new = (**rs).clone();
    new["spec"]["replicas"] = json!(replicas);
    let annotations = metadata_mut(&mut new)
        .entry("annotations")
        .or_insert_with(|| json!({}));
    annotations["deployment.kubernetes.io/desired-replicas"] = json!(replicas.to_string());
    if let Some(r) = rev {
        annotations[REVISION] = json!(r.to_string());
    }
    if new != **rs {
        bump_generation(&mut new, rs);
        common::write(store, key, rs, new);
    }
}

fn bump_generation(new: &mut Value, old: &Value) {
    if new.get("spec") != old.get("spec") {
        let g = int(old, "/metadata/generation", 1);
        metadata_mut(new).insert("generation".into(), json!(g + 1));
    }
}

pub fn reconcile(cx: &mut Cx<'_>, store: &mut StoreState, key: &ObjectKey) {
    let Some(d) = common::active(store, key) else {
        return;
    };
    let uid = meta::meta_str(&d, "uid").unwrap_or("").to_string();
    let replicas = int(&d, "/spec/replicas", 1).max(0);
    let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let hash = common::template_hash(d.pointer("/spec/template").unwrap_or(&Value::Null));
    let mut sets = owned(store, "apps", "replicasets", &key.namespace, &uid);
    let max_revision = sets.iter().map(|(_, rs)| revision(rs)).max().unwrap_or(0);
    let mut created = None;
    if !paused
        && !sets
            .iter()
            .any(|(_, rs)| hash_of(rs) == Some(hash.as_str()))
    {
        // No ReplicaSet has the template's hash yet: they are all old.
        let initial = new_replicas(&d, replicas, &sets);
        let rs_key = ObjectKey::new(
            "apps",
            "replicasets",
            &key.namespace,
            &format!("{}-{hash}", key.name),
        );
        if store.get(&rs_key).is_none() {
            let rs = new_replica_set(&d, &hash, max_revision + 1, initial);
            common::create(store, rs_key.clone(), rs, true);
            cx.enqueue(rs_key.clone());
            created = Some(rs_key.name);
            sets = owned(store, "apps", "replicasets", &key.namespace, &uid);
        }
    }
    let new_rs = sets
        .iter()
        .find(|(_, rs)| hash_of(rs) == Some(hash.as_str()))
        .cloned();
    let mut old: Vec<_> = sets
        .iter()
        .filter(|(_, rs)| hash_of(rs) != Some(hash.as_str()))
        .cloned()
        .collect();
    old.sort_by_key(|(_, rs)| std::cmp::Reverse(revision(rs)));
    if !paused && let Some((new_key, new_rs)) = &new_rs {
        let target = new_replicas(&d, replicas, &old);
        // A rollback makes an old ReplicaSet the new one: it gets the next revision.
        let rev = (revision(new_rs) < max_revision).then_some(max_revision + 1);
        scale(store, new_key, new_rs, target, rev);
        let mut remaining = if recreate(&d) {
            0
        } else {
            (replicas - available(new_rs)).max(0)
        };
        for (k, rs) in &old {
            let keep = int(rs, "/spec/replicas", 0).min(remaining);
            remaining -= keep;
            scale(store, k, rs, keep, None);
        }
    }
    prune_history(store, &d, &old);
    write_status(cx, store, key, &d, &hash, created.as_deref());
}

/// Deletes scaled-down old ReplicaSets beyond `revisionHistoryLimit` (oldest first).
fn prune_history(store: &mut StoreState, d: &Value, old: &[(ObjectKey, Arc<Value>)]) {
    let limit = int(d, "/spec/revisionHistoryLimit", 10).max(0) as usize;
    let idle: Vec<&ObjectKey> = old
        .iter()
        .filter(|(k, _)| {
            store.get(k).is_some_and(|rs| {
                int(rs, "/spec/replicas", 0) == 0 && int(rs, "/status/replicas", 0) == 0
            })
        })
        .map(|(k, _)| k)
        .collect();
    for k in idle.into_iter().skip(limit) {
        delete_locked(store, k, false);
    }
}

fn write_status(
    cx: &mut Cx<'_>,
    store: &mut StoreState,
    key: &ObjectKey,
    d: &Arc<Value>,
    hash: &str,
    created: Option<&str>,
) {
    let uid = meta::meta_str(d, "uid").unwrap_or("");
    let sets = owned(store, "apps", "replicasets", &key.namespace, uid);
    let new_rs = sets.iter().find(|(_, rs)| hash_of(rs) == Some(hash));
    let sum = |f: &str| -> i64 {
        sets.iter()
            .map(|(_, rs)| int(rs, &format!("/status/{f}"), 0))
            .sum()
    };
    let replicas = int(d, "/spec/replicas", 1).max(0);
    let total = sum("replicas");
    let ready = sum("readyReplicas");
    let avail = sum("availableReplicas");
    let updated = new_rs.map_or(0, |(_, rs)| int(rs, "/status/replicas", 0));
    let new_name = new_rs.map_or_else(|| format!("{}-{hash}", key.name), |(k, _)| k.name.clone());
    let mut new = (**d).clone();
    if let Some((_, rs)) = new_rs {
        let annotations = metadata_mut(&mut new)
            .entry("annotations")
            .or_insert_with(|| json!({}));
        annotations[REVISION] = json!(revision(rs).to_string());
    }
    let now = cx.wall.clone();
    let old_status = d.get("status").cloned().unwrap_or_else(|| json!({}));
    let s = status_mut(&mut new);
    for (field, value) in [
        ("replicas", total),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", avail),
        ("unavailableReplicas", (replicas - avail).max(0)),
    ] {
        if value == 0 {
            s.remove(field);
        } else {
            s.insert(field.into(), json!(value));
        }
    }
    s.insert(
        "observedGeneration".into(),
        json!(int(d, "/metadata/generation", 1)),
    );
    let min_available = replicas - max_unavailable(d, replicas);
    set_condition(
        s,
        if avail >= min_available {
            Condition {
                kind: "Available",
                status: "True",
                reason: "MinimumReplicasAvailable",
                message: "Deployment has minimum availability.".into(),
            }
        } else {
            Condition {
                kind: "Available",
                status: "False",
                reason: "MinimumReplicasUnavailable",
                message: "Deployment does not have minimum availability.".into(),
            }
        },
        &now,
        true,
        false,
    );
    let progress = [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ]
    .iter()
    .any(|f| old_status.get(*f) != s.get(*f));
    let complete = updated == replicas && total == replicas && avail >= replicas;
    let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let condition = |status, reason, message| Condition {
        kind: "Progressing",
        status,
        reason,
        message,
    };
    let prior = common::condition(d, "Progressing").and_then(|c| c.get("reason"));
    let exceeded = prior == Some(&json!("ProgressDeadlineExceeded"))
        || deadline_left(d).is_some_and(|left| left.is_zero());
    let progressing = if paused {
        Some(condition(
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".into(),
        ))
    } else if complete {
        Some(condition(
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{new_name}\" has successfully progressed."),
        ))
    } else if let Some(name) = created {
        Some(condition(
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{name}\""),
        ))
    } else if progress || prior.is_none() {
        Some(condition(
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{new_name}\" is progressing."),
        ))
    } else if exceeded {
        Some(condition(
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet \"{new_name}\" has timed out progressing."),
        ))
    } else {
        // No progress, deadline not reached: the condition stays as it is.
        None
    };
    let waiting = !paused && !complete && !exceeded;
    if let Some(c) = progressing {
        set_condition(s, c, &now, true, progress || created.is_some());
    }
    common::write(store, key, d, new);
    if waiting
        && let Some(d) = store.get(key).cloned()
        && let Some(left) = deadline_left(&d)
    {
        cx.requeue_after(key, left + Duration::from_millis(500));
    }
}

/// How long until the rollout's progress deadline passes (zero once it has), counted from
/// the Progressing condition's lastUpdateTime; `None` without one.
fn deadline_left(d: &Value) -> Option<Duration> {
    let seconds = int(d, "/spec/progressDeadlineSeconds", 600).max(0);
    let last = common::condition(d, "Progressing")?
        .get("lastUpdateTime")?
        .as_str()?;
    let last = chrono::DateTime::parse_from_rfc3339(last).ok()?;
    let deadline = last + chrono::Duration::seconds(seconds);
    let left = deadline.signed_duration_since(chrono::Utc::now());
    Some(left.to_std().unwrap_or(Duration::ZERO))
}
