//! The columns `kubectl get` shows for built-in kinds: the real server's table printers
//! (`pkg/printers/internalversion`), for the kinds Flotilla deploys, and the default
//! `Name`/`Created At` of every other kind.

use serde_json::{Value, json};

/// One column: name, type (`string`, `integer`, `date` …) and priority (1 = `-o wide`).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    pub priority: u8,
}

const fn col(name: &'static str, kind: &'static str, priority: u8) -> Column {
    Column {
        name,
        kind,
        priority,
    }
}

const NAME: Column = col("Name", "string", 0);
const AGE: Column = col("Age", "string", 0);

impl Column {
    pub fn definition(&self) -> Value {
        let mut d = json!({"name": self.name, "type": self.kind, "format": "", "description": "", "priority": self.priority});
        if self.name == "Name" {
            d["format"] = json!("name");
            d["description"] = json!(
                "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
            );
        }
        d
    }
}

/// The columns of `kind` (of core or `group`).
pub fn columns(group: &str, kind: &str) -> Vec<Column> {
    let wide = |names: &[&'static str]| {
        names
            .iter()
            .map(|n| col(n, "string", 1))
            .collect::<Vec<_>>()
    };
    let mut c = match (group, kind) {
        ("", "Pod") => {
            let mut c = vec![
                NAME,
                col("Ready", "string", 0),
                col("Status", "string", 0),
                col("Restarts", "string", 0),
                AGE,
            ];
            c.extend(wide(&["IP", "Node", "Nominated Node", "Readiness Gates"]));
            c
        }
        ("apps", "Deployment") => {
            let mut c = vec![
                NAME,
                col("Ready", "string", 0),
                col("Up-to-date", "integer", 0),
                col("Available", "integer", 0),
                AGE,
            ];
            c.extend(wide(&["Containers", "Images", "Selector"]));
            c
        }
        ("apps", "ReplicaSet") => {
            let mut c = vec![
                NAME,
                col("Desired", "integer", 0),
                col("Current", "integer", 0),
                col("Ready", "integer", 0),
                AGE,
            ];
            c.extend(wide(&["Containers", "Images", "Selector"]));
            c
        }
        ("apps", "StatefulSet") => {
            let mut c = vec![NAME, col("Ready", "string", 0), AGE];
            c.extend(wide(&["Containers", "Images"]));
            c
        }
        ("apps", "DaemonSet") => {
            let mut c = vec![
                NAME,
                col("Desired", "integer", 0),
                col("Current", "integer", 0),
                col("Ready", "integer", 0),
                col("Up-to-date", "integer", 0),
                col("Available", "integer", 0),
                col("Node Selector", "string", 0),
                AGE,
            ];
            c.extend(wide(&["Containers", "Images", "Selector"]));
            c
        }
        ("batch", "Job") => {
            let mut c = vec![
                NAME,
                col("Status", "string", 0),
                col("Completions", "string", 0),
                col("Duration", "string", 0),
                AGE,
            ];
            c.extend(wide(&["Containers", "Images", "Selector"]));
            c
        }
        ("", "Service") => {
            vec![
                NAME,
                col("Type", "string", 0),
                col("Cluster-IP", "string", 0),
                col("External-IP", "string", 0),
                col("Port(s)", "string", 0),
                AGE,
                col("Selector", "string", 1),
            ]
        }
        ("", "ConfigMap") => vec![NAME, col("Data", "integer", 0), AGE],
        ("", "Secret") => vec![
            NAME,
            col("Type", "string", 0),
            col("Data", "integer", 0),
            AGE,
        ],
        ("", "Namespace") => vec![NAME, col("Status", "string", 0), AGE],
        ("", "ServiceAccount") => vec![NAME, col("Secrets", "integer", 0), AGE],
        ("", "PersistentVolumeClaim") => vec![
            NAME,
            col("Status", "string", 0),
            col("Volume", "string", 0),
            col("Capacity", "string", 0),
            col("Access Modes", "string", 0),
            col("StorageClass", "string", 0),
            col("VolumeAttributesClass", "string", 0),
            AGE,
            col("VolumeMode", "string", 1),
        ],
        _ => vec![NAME, col("Created At", "date", 0)],
    };
    c.shrink_to_fit();
    c
}

fn int(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn text(o: &Value, pointer: &str) -> String {
    o.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

fn count(o: &Value, pointer: &str) -> usize {
    match o.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// `k=v,k2=v2` of a map or a label selector's matchLabels (and expressions).
fn selector(o: &Value, pointer: &str) -> String {
    let Some(s) = o.pointer(pointer) else {
        return "<none>".to_string();
    };
    let labels = s.get("matchLabels").unwrap_or(s);
    let mut parts: Vec<String> = labels
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Array(exprs)) = s.get("matchExpressions") {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or("");
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            parts.push(match e["operator"].as_str().unwrap_or("") {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_string(),
                _ => format!("!{key}"),
            });
        }
    }
    or_none(parts.join(","))
}

/// Containers' names and images of a pod spec at `pointer`.
fn containers(o: &Value, pointer: &str) -> (String, String) {
    let cs = o
        .pointer(pointer)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs.iter().filter_map(|c| c["name"].as_str()).collect();
    let images: Vec<&str> = cs.iter().filter_map(|c| c["image"].as_str()).collect();
    (names.join(","), images.join(","))
}

fn condition(o: &Value, kind: &str) -> bool {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == kind && c["status"] == "True")
        })
}

fn pod_status(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return "Terminating".to_string();
    }
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in statuses.iter().rev() {
        for state in ["waiting", "terminated"] {
            if let Some(r) = s
                .pointer(&format!("/state/{state}/reason"))
                .and_then(Value::as_str)
            {
                return r.to_string();
            }
        }
    }
    let reason = text(o, "/status/reason");
    if !reason.is_empty() {
        return reason;
    }
    or_none(text(o, "/status/phase")).replace("<none>", "Pending")
}

/// The cells of `object`'s row, `now` for ages.
pub fn cells(group: &str, kind: &str, o: &Value, now: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
    let name = json!(text(o, "/metadata/name"));
    let age = json!(age(o.pointer("/metadata/creationTimestamp"), now));
    let tpl = "/spec/template/spec/containers";
    match (group, kind) {
        ("", "Pod") => {
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = statuses.iter().filter(|s| s["ready"] == true).count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|s| s["restartCount"].as_i64())
                .sum();
            vec![
                name,
                json!(format!("{ready}/{}", count(o, "/spec/containers"))),
                json!(pod_status(o)),
                json!(restarts.to_string()),
                age,
                json!(or_none(text(o, "/status/podIP"))),
                json!(or_none(text(o, "/spec/nodeName"))),
                json!(or_none(text(o, "/status/nominatedNodeName"))),
                json!("<none>"),
            ]
        }
        ("apps", "Deployment") => {
            let (cs, images) = containers(o, tpl);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(o, "/status/readyReplicas"),
                    int(o, "/spec/replicas")
                )),
                json!(int(o, "/status/updatedReplicas")),
                json!(int(o, "/status/availableReplicas")),
                age,
                json!(cs),
                json!(images),
                json!(selector(o, "/spec/selector")),
            ]
        }
        ("apps", "ReplicaSet") => {
            let (cs, images) = containers(o, tpl);
            vec![
                name,
                json!(int(o, "/spec/replicas")),
                json!(int(o, "/status/replicas")),
                json!(int(o, "/status/readyReplicas")),
                age,
                json!(cs),
                json!(images),
                json!(selector(o, "/spec/selector")),
            ]
        }
        ("apps", "StatefulSet") => {
            let (cs, images) = containers(o, tpl);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(o, "/status/readyReplicas"),
                    int(o, "/spec/replicas")
                )),
                age,
                json!(cs),
                json!(images),
            ]
        }
        ("apps", "DaemonSet") => {
            let (cs, images) = containers(o, tpl);
            vec![
                name,
                json!(int(o, "/status/desiredNumberScheduled")),
                json!(int(o, "/status/currentNumberScheduled")),
                json!(int(o, "/status/numberReady")),
                json!(int(o, "/status/updatedNumberScheduled")),
                json!(int(o, "/status/numberAvailable")),
                json!(selector(o, "/spec/template/spec/nodeSelector")),
                age,
                json!(cs),
                json!(images),
                json!(selector(o, "/spec/selector")),
            ]
        }
        ("batch", "Job") => {
            let (cs, images) = containers(o, tpl);
            let status = if condition(o, "Complete") {
                "Complete"
            } else if condition(o, "Failed") {
                "Failed"
            } else if o.pointer("/spec/suspend") == Some(&json!(true)) {
                "Suspended"
            } else {
                "Running"
            };
            let completions = match o.pointer("/spec/completions").and_then(Value::as_i64) {
                Some(c) => format!("{}/{c}", int(o, "/status/succeeded")),
                None => format!(
                    "{}/1 of {}",
                    int(o, "/status/succeeded"),
                    int(o, "/spec/parallelism")
                ),
            };
            let duration = match (
                timestamp(o.pointer("/status/startTime")),
                timestamp(o.pointer("/status/completionTime")),
            ) {
                (Some(s), Some(e)) => human_duration(e - s),
                (Some(s), None) => human_duration(now - s),
                _ => String::new(),
            };
            vec![
                name,
                json!(status),
                json!(completions),
                json!(duration),
                age,
                json!(cs),
                json!(images),
                json!(selector(o, "/spec/selector")),
            ]
        }
        ("", "Service") => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(n) => format!("{}:{n}/{proto}", p["port"]),
                        None => format!("{}/{proto}", p["port"]),
                    }
                })
                .collect();
            let external = match text(o, "/spec/type").as_str() {
                "ExternalName" => text(o, "/spec/externalName"),
                "LoadBalancer" => "<pending>".to_string(),
                _ => "<none>".to_string(),
            };
            vec![
                name,
                json!(text(o, "/spec/type")),
                json!(or_none(text(o, "/spec/clusterIP"))),
                json!(external),
                json!(or_none(ports.join(","))),
                age,
                json!(selector(o, "/spec/selector")),
            ]
        }
        ("", "ConfigMap") => vec![
            name,
            json!(count(o, "/data") + count(o, "/binaryData")),
            age,
        ],
        ("", "Secret") => vec![name, json!(text(o, "/type")), json!(count(o, "/data")), age],
        ("", "Namespace") => vec![name, json!(text(o, "/status/phase")), age],
        ("", "ServiceAccount") => vec![name, json!(count(o, "/secrets")), age],
        ("", "PersistentVolumeClaim") => {
            let modes: Vec<String> = o
                .pointer("/spec/accessModes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|m| {
                    m.as_str().map(|m| {
                        match m {
                            "ReadWriteOnce" => "RWO",
                            "ReadOnlyMany" => "ROX",
                            "ReadWriteMany" => "RWX",
                            "ReadWriteOncePod" => "RWOP",
                            other => other,
                        }
                        .to_string()
                    })
                })
                .collect();
            let bound = text(o, "/status/phase") == "Bound";
            vec![
                name,
                json!(text(o, "/status/phase")),
                json!(text(o, "/spec/volumeName")),
                json!(if bound {
                    text(o, "/status/capacity/storage")
                } else {
                    String::new()
                }),
                json!(if bound {
                    modes.join(",")
                } else {
                    String::new()
                }),
                json!(text(o, "/spec/storageClassName")),
                json!(or_none(text(o, "/spec/volumeAttributesClassName"))),
                age,
                json!(text(o, "/spec/volumeMode")),
            ]
        }
        _ => vec![
            name,
            o.pointer("/metadata/creationTimestamp")
                .cloned()
                .unwrap_or(Value::Null),
        ],
    }
}

fn timestamp(v: Option<&Value>) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = v?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// `translateTimestampSince`: `<unknown>` without a timestamp.
pub fn age(created: Option<&Value>, now: chrono::DateTime<chrono::Utc>) -> String {
    match timestamp(created) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

/// apimachinery's `duration.HumanDuration`.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let years = hours / 24 / 365;
        return match (hours / 24) % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests;
