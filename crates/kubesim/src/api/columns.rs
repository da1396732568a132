//! The columns `kubectl get` shows for built-in kinds: the real server's table printers
//! (`pkg/printers/internalversion`), for the kinds Flotilla deploys, and the default
//! `Name`/`Created At` of every other kind.
//!
//! A printer is a list of columns, each with its name, type, priority and the [`Cell`] that
//! computes it from the object; [`columns`] picks a kind's.

use serde_json::{Value, json};

/// The current time, for ages and durations.
type Now = chrono::DateTime<chrono::Utc>;

/// One column: name, type (`string`, `integer`, `date` …), priority (1 = `-o wide`) and
/// how its cell is computed.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    pub priority: u8,
    format: &'static str,
    description: &'static str,
    cell: Cell,
}

/// How a column's cell is computed from the object (pointers are JSON pointers into it).
#[derive(Debug, Clone, Copy)]
enum Cell {
    /// The string at the pointer, empty when absent.
    Text(&'static str),
    /// The string at the pointer, `<none>` when absent or empty.
    TextOrNone(&'static str),
    /// The integer at the pointer, 0 when absent.
    Int(&'static str),
    /// The number of entries of the map or array at the pointer.
    Count(&'static str),
    /// `ready/desired` of the integers at two pointers.
    Ratio(&'static str, &'static str),
    /// The label selector (or map) at the pointer as `k=v,…`.
    Selector(&'static str),
    /// The value at the pointer as stored, null when absent.
    Raw(&'static str),
    /// The age of `metadata.creationTimestamp`.
    Age,
    /// The pod template's container names, or their images (`true`), comma-separated.
    Containers { images: bool },
    /// The same text for every object.
    Fixed(&'static str),
    /// A kind's own rule.
    With(fn(&Value, Now) -> Value),
}

use Cell::*;

const fn col(name: &'static str, kind: &'static str, priority: u8, cell: Cell) -> Column {
    Column {
        name,
        kind,
        priority,
        format: "",
        description: "",
        cell,
    }
}

/// A string column of the default view.
const fn string(name: &'static str, cell: Cell) -> Column {
    col(name, "string", 0, cell)
}

/// An integer column of the default view.
const fn integer(name: &'static str, cell: Cell) -> Column {
    col(name, "integer", 0, cell)
}

/// A string column `-o wide` adds.
const fn wide(name: &'static str, cell: Cell) -> Column {
    col(name, "string", 1, cell)
}

/// The first column of every table, built-in or custom.
pub const NAME: Column = Column {
    format: "name",
    description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    ..string("Name", Text("/metadata/name"))
};
const AGE: Column = string("Age", Age);
const CONTAINERS: Column = wide("Containers", Containers { images: false });
const IMAGES: Column = wide("Images", Containers { images: true });
const SELECTOR: Column = wide("Selector", Selector("/spec/selector"));
const READY_REPLICAS: Cell = Ratio("/status/readyReplicas", "/spec/replicas");

// The printers of the built-in kinds, by kind.

const POD: &[Column] = &[
    NAME,
    string("Ready", With(pod_ready)),
    string("Status", With(|o, _| json!(pod_status(o)))),
    string("Restarts", With(pod_restarts)),
    AGE,
    wide("IP", TextOrNone("/status/podIP")),
    wide("Node", TextOrNone("/spec/nodeName")),
    wide("Nominated Node", TextOrNone("/status/nominatedNodeName")),
    wide("Readiness Gates", Fixed("<none>")),
];

const DEPLOYMENT: &[Column] = &[
    NAME,
    string("Ready", READY_REPLICAS),
    integer("Up-to-date", Int("/status/updatedReplicas")),
    integer("Available", Int("/status/availableReplicas")),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

const REPLICA_SET: &[Column] = &[
    NAME,
    integer("Desired", Int("/spec/replicas")),
    integer("Current", Int("/status/replicas")),
    integer("Ready", Int("/status/readyReplicas")),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

const STATEFUL_SET: &[Column] = &[
    NAME,
    string("Ready", READY_REPLICAS),
    AGE,
    CONTAINERS,
    IMAGES,
];

const DAEMON_SET: &[Column] = &[
    NAME,
    integer("Desired", Int("/status/desiredNumberScheduled")),
    integer("Current", Int("/status/currentNumberScheduled")),
    integer("Ready", Int("/status/numberReady")),
    integer("Up-to-date", Int("/status/updatedNumberScheduled")),
    integer("Available", Int("/status/numberAvailable")),
    string(
        "Node Selector",
        Selector("/spec/template/spec/nodeSelector"),
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

const JOB: &[Column] = &[
    NAME,
    string("Status", With(job_status)),
    string("Completions", With(job_completions)),
    string("Duration", With(job_duration)),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

const SERVICE: &[Column] = &[
    NAME,
    string("Type", Text("/spec/type")),
    string("Cluster-IP", TextOrNone("/spec/clusterIP")),
    string("External-IP", With(service_external_ip)),
    string("Port(s)", With(service_ports)),
    AGE,
    SELECTOR,
];

const CONFIG_MAP: &[Column] = &[
    NAME,
    integer(
        "Data",
        With(|o, _| json!(count(o, "/data") + count(o, "/binaryData"))),
    ),
    AGE,
];

const SECRET: &[Column] = &[
    NAME,
    string("Type", Text("/type")),
    integer("Data", Count("/data")),
    AGE,
];

const NAMESPACE: &[Column] = &[NAME, string("Status", Text("/status/phase")), AGE];

const SERVICE_ACCOUNT: &[Column] = &[NAME, integer("Secrets", Count("/secrets")), AGE];

const PERSISTENT_VOLUME_CLAIM: &[Column] = &[
    NAME,
    string("Status", Text("/status/phase")),
    string("Volume", Text("/spec/volumeName")),
    string("Capacity", With(claim_capacity)),
    string("Access Modes", With(claim_access_modes)),
    string("StorageClass", Text("/spec/storageClassName")),
    string(
        "VolumeAttributesClass",
        TextOrNone("/spec/volumeAttributesClassName"),
    ),
    AGE,
    wide("VolumeMode", Text("/spec/volumeMode")),
];

/// Every other kind's columns.
const DEFAULT: &[Column] = &[
    NAME,
    col("Created At", "date", 0, Raw("/metadata/creationTimestamp")),
];

impl Column {
    pub fn definition(&self) -> Value {
        json!({"name": self.name, "type": self.kind, "format": self.format,
               "description": self.description, "priority": self.priority})
    }

    /// This column's cell of `o`, `now` for ages.
    pub fn cell(&self, o: &Value, now: Now) -> Value {
        match self.cell {
            Text(p) => json!(text(o, p)),
            TextOrNone(p) => json!(or_none(text(o, p))),
            Int(p) => json!(int(o, p)),
            Count(p) => json!(count(o, p)),
            Ratio(ready, desired) => json!(format!("{}/{}", int(o, ready), int(o, desired))),
            Selector(p) => json!(selector(o, p)),
            Raw(p) => o.pointer(p).cloned().unwrap_or(Value::Null),
            Age => json!(age(o.pointer("/metadata/creationTimestamp"), now)),
            Containers { images } => {
                let field = if images { "image" } else { "name" };
                let values: Vec<&str> = array(o, "/spec/template/spec/containers")
                    .filter_map(|c| c[field].as_str())
                    .collect();
                json!(values.join(","))
            }
            Fixed(s) => json!(s),
            With(f) => f(o, now),
        }
    }
}

/// The columns of `kind` (of core or `group`).
pub fn columns(group: &str, kind: &str) -> &'static [Column] {
    match (group, kind) {
        ("", "Pod") => POD,
        ("apps", "Deployment") => DEPLOYMENT,
        ("apps", "ReplicaSet") => REPLICA_SET,
        ("apps", "StatefulSet") => STATEFUL_SET,
        ("apps", "DaemonSet") => DAEMON_SET,
        ("batch", "Job") => JOB,
        ("", "Service") => SERVICE,
        ("", "ConfigMap") => CONFIG_MAP,
        ("", "Secret") => SECRET,
        ("", "Namespace") => NAMESPACE,
        ("", "ServiceAccount") => SERVICE_ACCOUNT,
        ("", "PersistentVolumeClaim") => PERSISTENT_VOLUME_CLAIM,
        _ => DEFAULT,
    }
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

/// The items of the array at `pointer` (none when absent).
fn array<'a>(o: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    o.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
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

fn condition(o: &Value, kind: &str) -> bool {
    array(o, "/status/conditions").any(|c| c["type"] == kind && c["status"] == "True")
}

/// `ready/containers` of a pod.
fn pod_ready(o: &Value, _: Now) -> Value {
    let ready = array(o, "/status/containerStatuses")
        .filter(|s| s["ready"] == true)
        .count();
    json!(format!("{ready}/{}", count(o, "/spec/containers")))
}

/// The sum of a pod's containers' restarts.
fn pod_restarts(o: &Value, _: Now) -> Value {
    let restarts: i64 = array(o, "/status/containerStatuses")
        .filter_map(|s| s["restartCount"].as_i64())
        .sum();
    json!(restarts.to_string())
}

fn pod_status(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return "Terminating".to_string();
    }
    let statuses: Vec<&Value> = array(o, "/status/containerStatuses").collect();
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

fn job_status(o: &Value, _: Now) -> Value {
    json!(if condition(o, "Complete") {
        "Complete"
    } else if condition(o, "Failed") {
        "Failed"
    } else if o.pointer("/spec/suspend") == Some(&json!(true)) {
        "Suspended"
    } else {
        "Running"
    })
}

fn job_completions(o: &Value, _: Now) -> Value {
    let succeeded = int(o, "/status/succeeded");
    json!(
        match o.pointer("/spec/completions").and_then(Value::as_i64) {
            Some(c) => format!("{succeeded}/{c}"),
            None => format!("{succeeded}/1 of {}", int(o, "/spec/parallelism")),
        }
    )
}

fn job_duration(o: &Value, now: Now) -> Value {
    json!(match (
        timestamp(o.pointer("/status/startTime")),
        timestamp(o.pointer("/status/completionTime")),
    ) {
        (Some(s), Some(e)) => human_duration(e - s),
        (Some(s), None) => human_duration(now - s),
        _ => String::new(),
    })
}

fn service_external_ip(o: &Value, _: Now) -> Value {
    json!(match text(o, "/spec/type").as_str() {
        "ExternalName" => text(o, "/spec/externalName"),
        "LoadBalancer" => "<pending>".to_string(),
        _ => "<none>".to_string(),
    })
}

fn service_ports(o: &Value, _: Now) -> Value {
    let ports: Vec<String> = array(o, "/spec/ports")
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64() {
                Some(n) => format!("{}:{n}/{proto}", p["port"]),
                None => format!("{}/{proto}", p["port"]),
            }
        })
        .collect();
    json!(or_none(ports.join(",")))
}

/// A claim's capacity and access modes show once it is bound.
fn bound(o: &Value) -> bool {
    text(o, "/status/phase") == "Bound"
}

fn claim_capacity(o: &Value, _: Now) -> Value {
    json!(if bound(o) {
        text(o, "/status/capacity/storage")
    } else {
        String::new()
    })
}

fn claim_access_modes(o: &Value, _: Now) -> Value {
    if !bound(o) {
        return json!("");
    }
    let modes: Vec<&str> = array(o, "/spec/accessModes")
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect();
    json!(modes.join(","))
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
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    let (days, years) = (hours / 24, hours / 24 / 365);
    match seconds {
        ..-1 => "<invalid>".to_string(),
        -1 => "0s".to_string(),
        _ if seconds < 120 => format!("{seconds}s"),
        _ if minutes < 10 => units(minutes, "m", seconds % 60, "s"),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => units(hours, "h", minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => units(days, "d", hours % 24, "h"),
        _ if hours < 24 * 365 * 2 => format!("{days}d"),
        _ if hours < 24 * 365 * 8 => units(years, "y", days % 365, "d"),
        _ => format!("{years}y"),
    }
}

/// `<major><unit>` followed by `<minor><unit>` unless the minor part is 0 (`4h`, `4h1m`).
fn units(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    match minor {
        0 => format!("{major}{major_unit}"),
        _ => format!("{major}{major_unit}{minor}{minor_unit}"),
    }
}

#[cfg(test)]
mod tests;
