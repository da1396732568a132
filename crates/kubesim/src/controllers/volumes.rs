//! PersistentVolumeClaims: a provisioner that binds every claim after its delay (a claim
//! annotated `stuck` stays Pending), giving it a volume name and the requested capacity.

use super::Cx;
use super::behavior::Behavior;
use super::common::{self, status_mut};
use crate::api::meta::{self, metadata_mut};
use crate::store::{ObjectKey, StoreState};
use serde_json::{Value, json};

pub fn reconcile(cx: &mut Cx<'_>, store: &mut StoreState, key: &ObjectKey) {
    let Some(pvc) = store.get(key).cloned() else {
        cx.forget(key);
        return;
    };
    if meta::is_deleting(&pvc)
        || pvc.pointer("/status/phase").and_then(Value::as_str) == Some("Bound")
    {
        return;
    }
    let (how, delay) = common::behavior_of(store, cx.config, &pvc, &key.namespace);
    if how == Behavior::Stuck || !cx.due(key, delay) {
        return;
    }
    let mut new = (*pvc).clone();
    let volume = format!("pvc-{}", meta::meta_str(&pvc, "uid").unwrap_or(""));
    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("volumeName").or_insert_with(|| json!(volume));
    }
    let annotations = metadata_mut(&mut new)
        .entry("annotations")
        .or_insert_with(|| json!({}));
    if let Some(a) = annotations.as_object_mut() {
        a.insert("pv.kubernetes.io/bind-completed".into(), json!("yes"));
        a.insert("pv.kubernetes.io/bound-by-controller".into(), json!("yes"));
    }
    let access_modes = pvc
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or(json!([]));
    let storage = pvc.pointer("/spec/resources/requests/storage").cloned();
    let s = status_mut(&mut new);
    s.insert("phase".into(), json!("Bound"));
    s.insert("accessModes".into(), access_modes);
    if let Some(storage) = storage {
        s.insert("capacity".into(), json!({"storage": storage}));
    }
    common::write(store, key, &pvc, new);
}
