//! Immutable fields of built-in kinds: the update validation of kube-apiserver 1.35 that
//! refuses to change what cannot change once an object exists, with its wording (422
//! Invalid, one cause per field).
//!
//! - Deployment, ReplicaSet, DaemonSet: `spec.selector` (`field is immutable`);
//! - StatefulSet: everything in `spec` but the fields a rollout may change (one `spec:
//!   Forbidden` error);
//! - Job: `spec.selector`, `spec.template` (a suspended Job that never started may change
//!   its scheduling directives), `spec.completionMode`, `spec.completions` (except an
//!   Indexed Job scaled with `parallelism`) and the other fields the real server freezes;
//! - Service: the primary cluster IP once allocated (`may not change once set`);
//! - ConfigMap and Secret with `immutable: true`: `data`, `binaryData` and `immutable`
//!   itself; a Secret's `type` always;
//! - PersistentVolumeClaim: `spec` except `resources.requests` and
//!   `volumeAttributesClassName`.
//!
//! Values in messages are printed as the 1.34+ server prints them: strings quoted, numbers
//! and booleans bare, anything else as compact JSON with the Go type's field order where
//! clients are known to show it (label selectors).

use crate::schema_validation::{ErrorKind, FieldError, aggregate};
use crate::status::{ApiError, Cause};
use serde_json::{Map, Value};

const IMMUTABLE: &str = "field is immutable";
const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

/// Checks an update of the main resource of a built-in kind (`old` stored, `new` about to
/// be stored, both defaulted); custom resources and other kinds pass.
pub fn check(group: &str, kind: &str, old: &Value, new: &Value) -> Result<(), ApiError> {
    let errors = match (group, kind) {
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => {
            let mut e = Vec::new();
            frozen(&mut e, old, new, &["spec", "selector"]);
            e
        }
        ("apps", "StatefulSet") => statefulset(old, new),
        ("batch", "Job") => job(old, new),
        ("", "Service") => service(old, new),
        ("", "ConfigMap") => immutable_data(old, new),
        ("", "Secret") => {
            let mut e = immutable_data(old, new);
            frozen(&mut e, old, new, &["type"]);
            e
        }
        ("", "PersistentVolumeClaim") => pvc(old, new),
        _ => Vec::new(),
    };
    if errors.is_empty() {
        return Ok(());
    }
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let causes = errors
        .iter()
        .map(|e| Cause {
            reason: e.kind.reason().to_string(),
            message: e.body(),
            field: e.field.clone(),
        })
        .collect();
    Err(ApiError::invalid_causes(
        group,
        kind,
        name,
        &aggregate(&errors),
        causes,
    ))
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// `ValidateImmutableField`: an Invalid error showing the new value when it differs.
fn frozen(errors: &mut Vec<FieldError>, old: &Value, new: &Value, path: &[&str]) {
    let (o, n) = (at(old, path), at(new, path));
    if o != n {
        errors.push(FieldError {
            kind: ErrorKind::Invalid,
            field: path.join("."),
            value: Some(go_value(path.last().copied().unwrap_or(""), n)),
            detail: IMMUTABLE.to_string(),
        });
    }
}

/// A value as the server's field errors print it.
pub fn go_value(field: &str, v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "null".to_string(),
        Some(Value::Object(m)) if field == "selector" => selector_json(m),
        Some(v) => v.to_string(),
    }
}

/// A `LabelSelector` as Go's encoding/json writes it (struct field order, empty omitted).
fn selector_json(m: &Map<String, Value>) -> String {
    let mut parts = Vec::new();
    if let Some(l) = m.get("matchLabels").filter(|l| !is_empty(l)) {
        parts.push(format!("\"matchLabels\":{l}"));
    }
    if let Some(Value::Array(exprs)) = m.get("matchExpressions").filter(|e| !is_empty(e)) {
        let exprs: Vec<String> = exprs
            .iter()
            .map(|e| {
                let mut f = Vec::new();
                for k in ["key", "operator", "values"] {
                    if let Some(v) = e.get(k).filter(|v| !is_empty(v)) {
                        f.push(format!("\"{k}\":{v}"));
                    }
                }
                format!("{{{}}}", f.join(","))
            })
            .collect();
        parts.push(format!("\"matchExpressions\":[{}]", exprs.join(",")));
    }
    format!("{{{}}}", parts.join(","))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// `spec` with the given fields removed, for "everything else must stay" comparisons.
fn spec_without(object: &Value, mutable: &[&str]) -> Map<String, Value> {
    let mut spec = object
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for f in mutable {
        spec.remove(*f);
    }
    spec
}

fn forbidden(field: &str, detail: &str) -> FieldError {
    FieldError {
        kind: ErrorKind::Forbidden,
        field: field.to_string(),
        value: None,
        detail: detail.to_string(),
    }
}

fn statefulset(old: &Value, new: &Value) -> Vec<FieldError> {
    const MUTABLE: [&str; 7] = [
        "replicas",
        "ordinals",
        "template",
        "updateStrategy",
        "revisionHistoryLimit",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
    ];
    if spec_without(old, &MUTABLE) == spec_without(new, &MUTABLE) {
        return Vec::new();
    }
    vec![forbidden(
        "spec",
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
    )]
}

fn job(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut e = Vec::new();
    let indexed_scale = at(new, &["spec", "completionMode"]).and_then(Value::as_str)
        == Some("Indexed")
        && at(new, &["spec", "completions"]) == at(new, &["spec", "parallelism"]);
    if !indexed_scale {
        frozen(&mut e, old, new, &["spec", "completions"]);
    }
    frozen(&mut e, old, new, &["spec", "selector"]);
    frozen_template(&mut e, old, new, suspended_unstarted(old));
    for f in [
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ] {
        frozen(&mut e, old, new, &["spec", f]);
    }
    e
}

/// A Job that is suspended and never started may change its pod template's scheduling
/// directives (labels, annotations, node selector, tolerations, affinity, scheduling gates).
fn suspended_unstarted(job: &Value) -> bool {
    at(job, &["spec", "suspend"]) == Some(&Value::Bool(true))
        && at(job, &["status", "startTime"]).is_none()
}

fn job_template(job: &Value) -> Value {
    let mut t = at(job, &["spec", "template"])
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("labels");
        m.remove("annotations");
    }
    if let Some(s) = t.get_mut("spec").and_then(Value::as_object_mut) {
        for f in ["nodeSelector", "tolerations", "affinity", "schedulingGates"] {
            s.remove(f);
        }
    }
    t
}

fn frozen_template(e: &mut Vec<FieldError>, old: &Value, new: &Value, scheduling_mutable: bool) {
    let changed = if scheduling_mutable {
        job_template(old) != job_template(new)
    } else {
        at(old, &["spec", "template"]) != at(new, &["spec", "template"])
    };
    if changed {
        e.push(FieldError {
            kind: ErrorKind::Invalid,
            field: "spec.template".to_string(),
            value: Some(go_value("template", at(new, &["spec", "template"]))),
            detail: IMMUTABLE.to_string(),
        });
    }
}

fn service(old: &Value, new: &Value) -> Vec<FieldError> {
    let external =
        |s: &Value| at(s, &["spec", "type"]).and_then(Value::as_str) == Some("ExternalName");
    let primary = |s: &Value| {
        at(s, &["spec", "clusterIPs"])
            .and_then(|v| v.get(0))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if external(old) || external(new) {
        return Vec::new();
    }
    match (primary(old), primary(new)) {
        (Some(o), n) if !o.is_empty() && n.as_deref() != Some(o.as_str()) => vec![FieldError {
            kind: ErrorKind::Invalid,
            field: "spec.clusterIPs[0]".to_string(),
            value: Some(go_value("clusterIPs", at(new, &["spec", "clusterIPs"]))),
            detail: "may not change once set".to_string(),
        }],
        _ => Vec::new(),
    }
}

fn immutable_data(old: &Value, new: &Value) -> Vec<FieldError> {
    if old.get("immutable") != Some(&Value::Bool(true)) {
        return Vec::new();
    }
    let mut e = Vec::new();
    if new.get("immutable") != Some(&Value::Bool(true)) {
        e.push(forbidden("immutable", IMMUTABLE_WHEN_SET));
    }
    let empty = Value::Object(Map::new());
    for f in ["data", "binaryData"] {
        if old.get(f).unwrap_or(&empty) != new.get(f).unwrap_or(&empty) {
            e.push(forbidden(f, IMMUTABLE_WHEN_SET));
        }
    }
    e
}

fn pvc(old: &Value, new: &Value) -> Vec<FieldError> {
    let rest = |v: &Value| {
        let mut spec = spec_without(v, &["volumeAttributesClassName"]);
        if let Some(Value::Object(r)) = spec.get_mut("resources") {
            r.remove("requests");
            if r.is_empty() {
                spec.remove("resources");
            }
        }
        spec
    };
    if rest(old) == rest(new) {
        return Vec::new();
    }
    vec![forbidden(
        "spec",
        "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_prints_in_go_field_order() {
        let s = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}], "matchLabels": {"app": "web"}});
        assert_eq!(
            go_value("selector", Some(&s)),
            r#"{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"a","operator":"In","values":["x"]}]}"#
        );
    }

    #[test]
    fn deployment_selector_change_is_refused_with_the_servers_words() {
        let old = json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "replicas": 1}});
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        assert!(check("apps", "Deployment", &old, &new).is_ok());
        new["spec"]["selector"]["matchLabels"]["app"] = json!("web2");
        let e = check("apps", "Deployment", &old, &new).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            r#"Deployment.apps "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"web2"}}: field is immutable"#
        );
        assert_eq!(e.details.causes[0].field, "spec.selector");
    }

    #[test]
    fn suspended_job_may_change_scheduling_only() {
        let old = json!({"metadata": {"name": "j"}, "spec": {"suspend": true, "template": {"spec": {"containers": [{"name": "c", "image": "a"}]}}}});
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
        assert!(check("batch", "Job", &old, &new).is_ok());
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("b");
        let e = check("batch", "Job", &old, &new).unwrap_err();
        assert!(e.message.ends_with(": field is immutable"), "{}", e.message);
    }

    #[test]
    fn immutable_configmap_reports_each_field() {
        let old = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let new = json!({"metadata": {"name": "c"}, "data": {"a": "2"}});
        let e = check("", "ConfigMap", &old, &new).unwrap_err();
        assert_eq!(
            e.message,
            "ConfigMap \"c\" is invalid: [immutable: Forbidden: field is immutable when `immutable` is set, data: Forbidden: field is immutable when `immutable` is set]"
        );
        assert_eq!(e.details.causes.len(), 2);
        assert_eq!(e.details.causes[1].reason, "FieldValueForbidden");
    }
}
