//! Defaulting of built-in kinds, as kube-apiserver 1.35 does it, so objects written to
//! kubesim read back like a real server's.
//!
//! Three stages, as on the real server:
//! - [`on_create`]: what the registries set when an object is created, after the field
//!   manager ran, so nobody owns it in managedFields (a Service's cluster IP, a Job's
//!   generated selector and its pods' labels);
//! - [`on_update`]: what the registries keep or derive from the stored object on an update
//!   (a Service's allocated cluster IPs).

pub mod service;

use crate::store::StoreState;
use serde_json::Value;

/// The registry's part of creating a built-in object of `group`/`kind`.
pub fn on_create(
    group: &str,
    kind: &str,
    object: &mut Value,
    store: &StoreState,
    service_cidr: &str,
) {
    match (group, kind) {
        ("", "Service") => {
            let taken = |ip: &str| {
                store.list("", "services", None).any(|(_, s)| {
                    s.pointer("/spec/clusterIPs")
                        .and_then(Value::as_array)
                        .is_some_and(|ips| ips.iter().any(|i| i.as_str() == Some(ip)))
                })
            };
            service::allocate(object, service_cidr, taken);
        }
        ("batch", "Job") => generate_job_selector(object),
        _ => {}
    }
}

/// Carries registry-owned values from `old` into `new` on an update of the main resource.
pub fn on_update(group: &str, kind: &str, old: &Value, new: &mut Value) {
    if let ("", "Service") = (group, kind) {
        service::normalize_update(old, new);
    }
}

/// The Job registry's selector, unless `spec.manualSelector` is true: the pod template
/// gets `job-name` and `controller-uid` labels (legacy and `batch.kubernetes.io/` forms,
/// unless set) and the selector matches `batch.kubernetes.io/controller-uid`.
fn generate_job_selector(job: &mut Value) {
    if job.pointer("/spec/manualSelector") == Some(&Value::Bool(true)) {
        return;
    }
    let name = job.pointer("/metadata/name").cloned().unwrap_or_default();
    let uid = job.pointer("/metadata/uid").cloned().unwrap_or_default();
    let Some(spec) = job.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let template = spec
        .entry("template")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(labels) =
        ensure_object(template, "metadata").and_then(|m| ensure_object(m, "labels"))
    {
        for (label, value) in [
            ("job-name", &name),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("batch.kubernetes.io/controller-uid", &uid),
        ] {
            labels
                .as_object_mut()
                .map(|l| l.entry(label).or_insert_with(|| value.clone()));
        }
    }
    let selector = spec
        .entry("selector")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(m) = ensure_object(selector, "matchLabels").and_then(Value::as_object_mut) {
        m.entry("batch.kubernetes.io/controller-uid").or_insert(uid);
    }
}

/// `parent[key]`, made an empty object if missing or null.
pub(crate) fn ensure_object<'a>(parent: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    let map = parent.as_object_mut()?;
    let v = map.entry(key).or_insert_with(|| serde_json::json!({}));
    if v.is_null() {
        *v = serde_json::json!({});
    }
    v.is_object().then_some(v)
}
