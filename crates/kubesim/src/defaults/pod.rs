//! Pod spec defaults (`SetDefaults_PodSpec`, `_Container`, `_ContainerPort`, `_Probe`,
//! `_Volume` …, v1.35) for Pods and every pod template, and what admission adds to a
//! created Pod (service account, priority, default tolerations).

use super::{default, object_at};
use serde_json::{Map, Value, json};

/// Defaults a `PodSpec` (of a Pod or a template).
pub fn pod_spec(spec: &mut Map<String, Value>) {
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "securityContext", json!({}));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            cs.iter_mut()
                .filter_map(Value::as_object_mut)
                .for_each(container);
        }
    }
    if let Some(Value::Array(vs)) = spec.get_mut("volumes") {
        vs.iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(volume);
    }
}

/// Defaults a pod template's spec (`spec.template.spec` of the workload kinds).
pub fn template(owner_spec: &mut Map<String, Value>) {
    if let Some(spec) = owner_spec
        .get_mut("template")
        .and_then(Value::as_object_mut)
        .and_then(|t| object_at(t, "spec"))
    {
        pod_spec(spec);
    }
}

/// `Always` for `:latest` or no tag (a digest alone counts as pinned), else `IfNotPresent`.
pub fn pull_policy(image: &str) -> &'static str {
    let name = image.split_once('@').map_or(image, |(n, _)| n);
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        None if image.contains('@') => "IfNotPresent",
        _ => "Always",
    }
}

fn container(c: &mut Map<String, Value>) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let policy = pull_policy(image);
    default(c, "imagePullPolicy", json!(policy));
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    default(c, "resources", json!({}));
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(p, "protocol", json!("TCP"));
        }
    }
    if let Some(Value::Array(env)) = c.get_mut("env") {
        for e in env.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(f) = e
                .get_mut("valueFrom")
                .and_then(Value::as_object_mut)
                .and_then(|v| v.get_mut("fieldRef"))
                .and_then(Value::as_object_mut)
            {
                default(f, "apiVersion", json!("v1"));
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
            default(p, "timeoutSeconds", json!(1));
            default(p, "periodSeconds", json!(10));
            default(p, "successThreshold", json!(1));
            default(p, "failureThreshold", json!(3));
            if let Some(h) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
                default(h, "path", json!("/"));
                default(h, "scheme", json!("HTTP"));
            }
        }
    }
}

/// A volume without a source is an `emptyDir`; projected files default to mode 0644.
fn volume(v: &mut Map<String, Value>) {
    let sources = v.keys().filter(|k| *k != "name").count();
    if sources == 0 {
        v.insert("emptyDir".into(), json!({}));
    }
    for source in ["configMap", "secret", "projected", "downwardAPI"] {
        if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
            default(s, "defaultMode", json!(420));
        }
    }
    if let Some(h) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
        default(h, "type", json!(""));
    }
}

/// `SetDefaults_Pod` on top of the spec's: requests from limits, service links on.
pub fn pod(spec: &mut Map<String, Value>) {
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for r in cs
                .iter_mut()
                .filter_map(|c| c.get_mut("resources"))
                .filter_map(Value::as_object_mut)
            {
                let Some(limits) = r.get("limits").and_then(Value::as_object).cloned() else {
                    continue;
                };
                if let Some(requests) = object_at(r, "requests") {
                    for (k, v) in limits {
                        requests.entry(k).or_insert(v);
                    }
                }
            }
        }
    }
    default(spec, "enableServiceLinks", json!(true));
    pod_spec(spec);
}

/// What the ServiceAccount, Priority and DefaultTolerationSeconds admission plugins add to
/// a Pod when it is created.
pub fn admit(spec: &mut Map<String, Value>) {
    default(spec, "serviceAccountName", json!("default"));
    let sa = spec.get("serviceAccountName").cloned().unwrap_or_default();
    default(spec, "serviceAccount", sa);
    default(spec, "priority", json!(0));
    default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Some(ts) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            if !ts
                .iter()
                .any(|t| t.get("key").and_then(Value::as_str) == Some(key))
            {
                ts.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/app"), "Always");
        assert_eq!(pull_policy("localhost:5000/app:v2"), "IfNotPresent");
        assert_eq!(pull_policy("app@sha256:abcd"), "IfNotPresent");
    }
}
