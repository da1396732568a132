//! Defaulting of built-in kinds, as kube-apiserver 1.35 does it, so objects written to
//! kubesim read back like a real server's.
//!
//! Three stages, as on the real server:
//! - [`apply`]: the versioned types' defaulting, which the real server runs when it decodes
//!   a request body: a create's, an update's or a patched object's defaults are owned by
//!   that write's manager (`Update`), while server-side apply defaults the merged result,
//!   so an applier owns none of them and re-applying the same configuration is a no-op;
//! - [`on_create`]: what the registries set when an object is created, after the field
//!   manager ran, so nobody owns it in managedFields (a Service's cluster IP, a Job's
//!   generated selector and its pods' labels);
//! - [`on_update`]: what the registries keep or derive from the stored object on an update
//!   (a Service's allocated cluster IPs), and [`allocate_update`]: what an update claims of
//!   the cluster's shared ranges (see [`service_claims`]).

pub mod pod;
pub mod service;
pub mod service_claims;
pub mod workloads;

use crate::status::ApiError;
use crate::store::StoreState;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// Sets `map[key]` unless it holds a value (a JSON null counts as unset, as in Go).
pub(crate) fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get_mut(key) {
        Some(v) if !v.is_null() => {}
        Some(v) => *v = value,
        None => {
            map.insert(key.to_string(), value);
        }
    }
}

/// `map[key]` as an object, created empty if unset.
pub(crate) fn object_at<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    default(map, key, json!({}));
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// `SetDefaults_PersistentVolumeClaimSpec`.
pub(crate) fn pvc_spec(spec: &mut Map<String, Value>) {
    default(spec, "volumeMode", json!("Filesystem"));
}

/// The decode-time defaults of a built-in object of `group`/`kind` (others untouched).
pub fn apply(group: &str, kind: &str, object: &mut Value) {
    if let ("batch", "Job") = (group, kind) {
        workloads::job(object);
        return;
    }
    if let ("", "Secret") = (group, kind) {
        secret_string_data(object);
        return;
    }
    if let ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") = (group, kind) {
        rbac_subjects(object);
        return;
    }
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    match (group, kind) {
        ("apps", "Deployment") => workloads::deployment(spec),
        ("apps", "ReplicaSet") => workloads::replicaset(spec),
        ("apps", "StatefulSet") => workloads::statefulset(spec),
        ("apps", "DaemonSet") => workloads::daemonset(spec),
        ("batch", "CronJob") => workloads::cronjob(spec),
        ("", "Pod") => pod::pod(spec),
        ("", "PodTemplate" | "ReplicationController") => pod::template(spec),
        ("", "Service") => service::defaults(spec),
        ("", "PersistentVolumeClaim") => pvc_spec(spec),
        _ => {}
    }
}

/// A Secret's `stringData` written into `data`, base64-encoded, over any same key, as the
/// v1 → internal conversion does: `stringData` is write-only and never stored or returned.
fn secret_string_data(secret: &mut Value) {
    let Some(fields) = secret.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = fields.remove("stringData") else {
        return;
    };
    let Some(data) = object_at(fields, "data") else {
        return;
    };
    for (key, value) in strings {
        if let Value::String(text) = value {
            data.insert(key, Value::String(STANDARD.encode(text)));
        }
    }
}

/// Users and groups bound without an `apiGroup` are RBAC's.
fn rbac_subjects(binding: &mut Value) {
    if let Some(Value::Array(subjects)) = binding.get_mut("subjects") {
        for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
            if matches!(
                s.get("kind").and_then(Value::as_str),
                Some("User" | "Group")
            ) {
                default(s, "apiGroup", json!("rbac.authorization.k8s.io"));
            }
        }
    }
}

/// The registry's part of creating a built-in object of `group`/`kind`; fails only when
/// an allocator refuses a requested value (422) or its range is full (500). A dry-run
/// checks as its allocators do (see [`service_claims`]); it stores, so holds, nothing.
pub fn on_create(
    group: &str,
    kind: &str,
    object: &mut Value,
    store: &StoreState,
    service_cidr: &str,
    dry_run: bool,
) -> Result<(), ApiError> {
    match (group, kind) {
        ("", "Service") => {
            allocate_service(object, None, store, service_cidr, dry_run)?;
            object["status"] = json!({"loadBalancer": {}});
        }
        ("", "Pod") => {
            if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
                pod::admit(spec);
            }
        }
        ("", "PersistentVolumeClaim") => {
            object["status"] = json!({"phase": "Pending"});
        }
        ("batch", "Job") => generate_job_selector(object),
        _ => {}
    }
    Ok(())
}

/// Carries registry-owned values from `old` into `new` on an update of the main resource.
pub fn on_update(group: &str, kind: &str, old: &Value, new: &mut Value) {
    if let ("", "Service") = (group, kind) {
        service::normalize_update(old, new);
    }
}

/// The registry's allocations on an update of a built-in object's main resource, after
/// validation and under the store lock: a Service leaving ExternalName claims or gets a
/// cluster IP, and a NodePort or LoadBalancer Service claims the node ports it did not
/// hold and gets one for each port without (see [`service_claims`]).
pub fn allocate_update(
    group: &str,
    kind: &str,
    old: &Value,
    new: &mut Value,
    store: &StoreState,
    service_cidr: &str,
    dry_run: bool,
) -> Result<(), ApiError> {
    if (group, kind) != ("", "Service") {
        return Ok(());
    }
    allocate_service(new, Some(old), store, service_cidr, dry_run)
}

/// A Service's registry allocations on create (`old` is `None`) or update: the ports
/// validated, then what it asks for claimed and what it lacks allocated from the
/// allocation index, not a scan of every Service (see `crate::allocations`). A cluster IP
/// on create and when it stops being an ExternalName Service; node ports whenever its
/// type has them, shared between ports of one number only on create.
fn allocate_service(
    service: &mut Value,
    old: Option<&Value>,
    store: &StoreState,
    service_cidr: &str,
    dry_run: bool,
) -> Result<(), ApiError> {
    let in_use = store.allocations();
    let claims = service_claims::Claims::of(store, service_cidr, dry_run);
    service_claims::validate(service)?;
    let external = service_claims::Claims::is_external_name;
    if old.is_none_or(|old| external(old) && !external(service)) {
        claims.cluster_ip(service)?;
        service::allocate(service, service_cidr, |ip| in_use.ip_in_use(ip))?;
    }
    claims.node_ports(service, old)?;
    service::allocate_node_ports(service, old.is_none(), |port| in_use.node_port_in_use(port))
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
