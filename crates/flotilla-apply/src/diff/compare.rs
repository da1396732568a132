//! Field-by-field comparison of two objects as JSON: the desired object (a server-side
//! dry-run answer) against the live one, reported as JSON pointers (RFC 6901, as
//! `driftDetection.ignore` names fields) with both values.
//!
//! Maps are compared key by key and lists element by element, so an edit shows as the
//! leaf it touched (`/spec/template/spec/containers/0/image`), not as a whole list.
//! Server-managed metadata is never compared, `status` only when asked. Under a Secret's
//! `data` and `stringData` (and the last-applied annotation, which may copy them) values
//! are hidden: the report says which key differs, never what it holds.

use serde::Serialize;
use serde_json::{Map, Value};

/// Metadata the server sets, never a difference.
const SERVER_METADATA: [&str; 6] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

/// kubectl's client-side-apply annotation: a copy of the whole applied manifest.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// One side of a difference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "camelCase")]
pub enum FieldValue {
    /// The field is not set on this side.
    Absent,
    /// The field's value.
    Value(Value),
    /// Set, but a Secret's value: not shown.
    Hidden,
}

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// JSON pointer to the field, e.g. `/spec/replicas`.
    pub path: String,
    /// Its value in the desired object.
    pub desired: FieldValue,
    /// Its value in the live object.
    pub live: FieldValue,
}

/// What to compare.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompareOptions {
    /// Compare `status` too.
    pub include_status: bool,
    /// JSON pointers whose fields (and everything below them) are not compared.
    pub ignore: Vec<String>,
}

/// Every difference between `desired` and `live` (whole objects), in path order.
/// `secret` hides the values of a Secret's data.
pub fn compare(
    desired: &Value,
    live: &Value,
    secret: bool,
    options: &CompareOptions,
) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let mut walker = Walker {
        options,
        secret,
        changes: &mut changes,
    };
    let keys = union_keys(desired, live);
    for key in keys {
        if key == "apiVersion" || key == "kind" || (key == "status" && !options.include_status) {
            continue;
        }
        let path = format!("/{}", escape(&key));
        let (d, l) = (desired.get(&key), live.get(&key));
        if key == "metadata" {
            walker.metadata(&path, d, l);
        } else {
            let sensitive = secret && (key == "data" || key == "stringData");
            walker.walk(&path, d, l, sensitive);
        }
    }
    changes
}

struct Walker<'a> {
    options: &'a CompareOptions,
    secret: bool,
    changes: &'a mut Vec<FieldChange>,
}

impl Walker<'_> {
    fn metadata(&mut self, path: &str, desired: Option<&Value>, live: Option<&Value>) {
        for key in union_keys_opt(desired, live) {
            if SERVER_METADATA.contains(&key.as_str()) {
                continue;
            }
            let child = format!("{path}/{}", escape(&key));
            let (d, l) = (field(desired, &key), field(live, &key));
            if key == "annotations" && self.secret {
                for annotation in union_keys_opt(d, l) {
                    let grandchild = format!("{child}/{}", escape(&annotation));
                    let sensitive = annotation == LAST_APPLIED;
                    self.walk(
                        &grandchild,
                        field(d, &annotation),
                        field(l, &annotation),
                        sensitive,
                    );
                }
            } else {
                self.walk(&child, d, l, false);
            }
        }
    }

    fn walk(&mut self, path: &str, desired: Option<&Value>, live: Option<&Value>, sensitive: bool) {
        if desired == live || self.ignored(path) {
            return;
        }
        match (desired, live) {
            (Some(Value::Object(_)), Some(Value::Object(_))) => {
                for key in union_keys_opt(desired, live) {
                    let child = format!("{path}/{}", escape(&key));
                    self.walk(&child, field(desired, &key), field(live, &key), sensitive);
                }
            }
            (Some(Value::Array(d)), Some(Value::Array(l))) => {
                for i in 0..d.len().max(l.len()) {
                    self.walk(&format!("{path}/{i}"), d.get(i), l.get(i), sensitive);
                }
            }
            // A hidden map that one side lacks: name each of its keys, not the map.
            (Some(Value::Object(_)), None) | (None, Some(Value::Object(_))) if sensitive => {
                for key in union_keys_opt(desired, live) {
                    let child = format!("{path}/{}", escape(&key));
                    self.walk(&child, field(desired, &key), field(live, &key), sensitive);
                }
            }
            _ => self.changes.push(FieldChange {
                path: path.to_owned(),
                desired: shown(desired, sensitive),
                live: shown(live, sensitive),
            }),
        }
    }

    fn ignored(&self, path: &str) -> bool {
        self.options.ignore.iter().any(|prefix| {
            path == prefix
                || (path.starts_with(prefix.as_str())
                    && path.as_bytes().get(prefix.len()) == Some(&b'/'))
        })
    }
}

fn shown(value: Option<&Value>, sensitive: bool) -> FieldValue {
    match value {
        None => FieldValue::Absent,
        Some(_) if sensitive => FieldValue::Hidden,
        Some(v) => FieldValue::Value(v.clone()),
    }
}

fn field<'a>(value: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    value?.get(key)
}

fn union_keys(a: &Value, b: &Value) -> Vec<String> {
    union_keys_opt(Some(a), Some(b))
}

/// The keys of both maps, sorted, each once.
fn union_keys_opt(a: Option<&Value>, b: Option<&Value>) -> Vec<String> {
    let empty = Map::new();
    let map = |v: Option<&Value>| {
        v.and_then(Value::as_object)
            .unwrap_or(&empty)
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut keys = map(a);
    keys.extend(map(b));
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A map key as a JSON pointer segment.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn value(v: Value) -> FieldValue {
        FieldValue::Value(v)
    }

    #[test]
    fn leaves_that_differ_with_server_fields_ignored() {
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "resourceVersion": "9", "uid": "u", "generation": 4,
                "creationTimestamp": "t", "managedFields": [{"manager": "kubectl"}],
                "labels": {"app": "web", "app.kubernetes.io/part-of": "shop"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}},
            "status": {"readyReplicas": 3}});
        let mut desired = live.clone();
        desired["metadata"]["resourceVersion"] = json!("10");
        desired["metadata"]["managedFields"] = json!([]);
        desired["status"] = json!({"readyReplicas": 1});
        assert!(compare(&desired, &live, false, &CompareOptions::default()).is_empty());

        desired["spec"]["replicas"] = json!(1);
        desired["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
        desired["metadata"]["labels"]["app.kubernetes.io/part-of"] = json!("store");
        let changes = compare(&desired, &live, false, &CompareOptions::default());
        assert_eq!(
            changes,
            [
                FieldChange {
                    path: "/metadata/labels/app.kubernetes.io~1part-of".into(),
                    desired: value(json!("store")),
                    live: value(json!("shop")),
                },
                FieldChange {
                    path: "/spec/replicas".into(),
                    desired: value(json!(1)),
                    live: value(json!(3)),
                },
                FieldChange {
                    path: "/spec/template/spec/containers/0/image".into(),
                    desired: value(json!("nginx:1.28")),
                    live: value(json!("nginx:1.27")),
                },
            ]
        );
        let with_status = CompareOptions {
            include_status: true,
            ignore: vec!["/spec/replicas".into(), "/metadata/labels".into()],
        };
        let paths: Vec<String> = compare(&desired, &live, false, &with_status)
            .into_iter()
            .map(|c| c.path)
            .collect();
        assert_eq!(
            paths,
            [
                "/spec/template/spec/containers/0/image",
                "/status/readyReplicas"
            ]
        );
    }

    #[test]
    fn lists_by_element_and_absent_sides() {
        let live = json!({"spec": {"ports": [{"port": 80}]}});
        let desired =
            json!({"spec": {"ports": [{"port": 80}, {"port": 443}], "type": "ClusterIP"}});
        let changes = compare(&desired, &live, false, &CompareOptions::default());
        assert_eq!(
            changes,
            [
                FieldChange {
                    path: "/spec/ports/1".into(),
                    desired: value(json!({"port": 443})),
                    live: FieldValue::Absent,
                },
                FieldChange {
                    path: "/spec/type".into(),
                    desired: value(json!("ClusterIP")),
                    live: FieldValue::Absent,
                },
            ]
        );
    }

    #[test]
    fn secret_values_never_show() {
        let live = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
            "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="}});
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db"},
            "data": {"password": "c3dvcmRmaXNo", "user": "YWRtaW4=", "token": "dG9rZW4="}});
        let changes = compare(&desired, &live, true, &CompareOptions::default());
        let printed = format!("{changes:?}");
        for secret in ["aHVudGVyMg", "c3dvcmRmaXNo", "dG9rZW4", "YWRtaW4"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert_eq!(
            changes,
            [
                FieldChange {
                    path: "/data/password".into(),
                    desired: FieldValue::Hidden,
                    live: FieldValue::Hidden,
                },
                FieldChange {
                    path: "/data/token".into(),
                    desired: FieldValue::Hidden,
                    live: FieldValue::Absent,
                },
                FieldChange {
                    path: "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"
                        .into(),
                    desired: FieldValue::Absent,
                    live: FieldValue::Hidden,
                },
            ]
        );
        // A whole data map missing on one side: its keys, hidden.
        let bare = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}});
        let changes = compare(&desired, &bare, true, &CompareOptions::default());
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/data/password", "/data/token", "/data/user", "/type"]
        );
        assert!(changes[..3].iter().all(|c| c.desired == FieldValue::Hidden));
    }
}
