//! Zero-value objects: what the API server compares a create against.
//!
//! The server decodes a new object into its Go type and compares it with a freshly
//! allocated one, converted to JSON. Go writes non-pointer structs even when empty (`{}`),
//! and pointers and slices without `omitempty` as `null`, so e.g. a new Deployment is
//! compared against `{"spec":{"selector":null,"strategy":{},"template":{…}}, …}`. That
//! base decides which nodes a create's Update entry owns as new (`.` markers): a created
//! Deployment's entry has `f:strategy` without `.` but `f:rollingUpdate` with one.
//!
//! The Deployment shape is checked byte for byte against the managedFields of a real
//! `kubectl create deployment` (test `kubectl_create_records_the_same_fields_v1_…`); the
//! others follow the JSON tags of the Kubernetes Go types. Kinds not listed get
//! `metadata` only, which is exact for ConfigMap, Secret, ServiceAccount, RBAC kinds and
//! custom resources.

use serde_json::{Value, json};

fn pod_template() -> Value {
    json!({"metadata": {"creationTimestamp": null}, "spec": {"containers": null}})
}

/// The zero value of a kind, as the API server's create path sees it.
pub fn zero_object(group: &str, kind: &str) -> Value {
    let spec = match (group, kind) {
        ("apps", "Deployment") => json!({
            "selector": null, "strategy": {}, "template": pod_template()
        }),
        ("apps", "ReplicaSet") => json!({"selector": null, "template": pod_template()}),
        ("apps", "DaemonSet") => json!({
            "selector": null, "template": pod_template(), "updateStrategy": {}
        }),
        ("batch", "Job") => json!({"template": pod_template()}),
        ("", "Pod") => json!({"containers": null}),
        ("", "Service" | "Namespace") => json!({}),
        _ => return json!({"metadata": {"creationTimestamp": null}}),
    };
    let status = match (group, kind) {
        ("", "Service") => json!({"loadBalancer": {}}),
        _ => json!({}),
    };
    json!({"metadata": {"creationTimestamp": null}, "spec": spec, "status": status})
}
