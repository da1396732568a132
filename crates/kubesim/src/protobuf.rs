//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded to JSON.
//!
//! client-go ≥ 1.32 sends built-in kinds as protobuf: `kubectl create namespace|configmap|
//! deployment|job|role|service…`, Helm's release Secrets and the `DeleteOptions` of its
//! deletes do. The body is the magic `k8s\0` followed by a `runtime.Unknown` message
//! (`typeMeta` = 1 with apiVersion = 1 and kind = 2, `raw` = 2 holding the object's own
//! message).
//!
//! Protobuf carries field numbers, not names, so decoding needs each message's layout.
//! `protobuf/messages.json` has it for every message of every served built-in kind (field
//! numbers from the Kubernetes `generated.proto` files, JSON names from the definitions),
//! written by `crates/kubesim/protobuf/gen.py`. A few messages are written in JSON other
//! than as objects: Time and MicroTime (RFC 3339 strings), Quantity (its string),
//! IntOrString (a number or a string), RawExtension, JSON and FieldsV1 (embedded JSON),
//! Duration (Go's `1h0m0s`), the `{items}` wrappers ExtraValue and Verbs (arrays) and the
//! `JSONSchemaPropsOr…` unions; fields of messages Go inlines (`Volume.VolumeSource`,
//! `Probe.ProbeHandler` …) are merged into their parent.
//!
//! Go omits zero values from JSON (`omitempty`), and its protobuf encoder writes empty
//! strings, zero numbers and zero times, so those are dropped here. Booleans are kept: a
//! pointer's `false` (`automountServiceAccountToken: false`) means something, a plain
//! field's (`stdin: false`, which a real server omits) is noise. Empty messages are kept
//! (`resources: {}`, `emptyDir: {}`), as Go writes them. An explicit zero in a pointer field
//! (`replicas: 0`) cannot be told from an absent one on the wire and is dropped too. Kinds
//! not in the table get 415.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtobufError {
    #[error("missing the k8s protobuf magic prefix")]
    Magic,
    #[error("truncated or malformed protobuf")]
    Malformed,
    #[error("protobuf bodies of {0} are not supported")]
    UnsupportedKind(String),
    #[error("the protobuf message table is unreadable: {0}")]
    Table(String),
}

/// The type of a field's values.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ty {
    Str,
    I32,
    I64,
    Bool,
    Double,
    /// `[]byte`, base64 in JSON.
    Bytes,
    Msg(String),
}

#[derive(Debug, Clone)]
struct FieldDef {
    tag: u64,
    json: String,
    ty: Ty,
    repeated: bool,
    /// `map<string, ty>`, sent as repeated entries `{key = 1, value = 2}`.
    map: bool,
    /// A Go struct embedded with `json:",inline"`: its fields go into the parent.
    inline: bool,
}

/// The message table: which message each `apiVersion kind` is, and every message's fields.
#[derive(Debug, Default)]
struct Table {
    kinds: HashMap<String, String>,
    messages: HashMap<String, Vec<FieldDef>>,
}

const MESSAGES: &str = include_str!("protobuf/messages.json");

fn parse_table(text: &str) -> Result<Table, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut table = Table::default();
    for (k, v) in doc
        .get("kinds")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let name = v
            .as_str()
            .ok_or_else(|| format!("kind {k}: not a string"))?;
        table.kinds.insert(k.clone(), name.to_string());
    }
    for (name, fields) in doc
        .get("messages")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let bad = || format!("message {name}: malformed field");
        let mut defs = Vec::new();
        for f in fields.as_array().ok_or_else(bad)? {
            let (Some(tag), Some(json), Some(ty), Some(flags)) = (
                f.get(0).and_then(Value::as_u64),
                f.get(1).and_then(Value::as_str),
                f.get(2).and_then(Value::as_str),
                f.get(3).and_then(Value::as_str),
            ) else {
                return Err(bad());
            };
            let ty = match ty {
                "string" => Ty::Str,
                "int32" => Ty::I32,
                "int64" => Ty::I64,
                "bool" => Ty::Bool,
                "double" => Ty::Double,
                "bytes" => Ty::Bytes,
                other => Ty::Msg(other.to_string()),
            };
            defs.push(FieldDef {
                tag,
                json: json.to_string(),
                ty,
                repeated: flags.contains('r'),
                map: flags.contains('m'),
                inline: flags.contains('i'),
            });
        }
        table.messages.insert(name.clone(), defs);
    }
    Ok(table)
}

fn table() -> Result<&'static Table, ProtobufError> {
    static TABLE: OnceLock<Result<Table, String>> = OnceLock::new();
    TABLE
        .get_or_init(|| parse_table(MESSAGES))
        .as_ref()
        .map_err(|e| ProtobufError::Table(e.clone()))
}

/// One field as it appears on the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed64(u64),
    /// No field of a built-in message is a 32-bit fixed or float.
    Fixed32,
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ProtobufError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(ProtobufError::Malformed)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ProtobufError::Malformed)
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, len: usize) -> Result<&'a [u8], ProtobufError> {
    let end = pos.checked_add(len).ok_or(ProtobufError::Malformed)?;
    let bytes = buf.get(*pos..end).ok_or(ProtobufError::Malformed)?;
    *pos = end;
    Ok(bytes)
}

/// Splits a message into `(field number, value)` pairs.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, ProtobufError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let value = match tag & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 => {
                let b = take(buf, &mut pos, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Wire::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?)
                    .map_err(|_| ProtobufError::Malformed)?;
                Wire::Bytes(take(buf, &mut pos, len)?)
            }
            5 => {
                take(buf, &mut pos, 4)?;
                Wire::Fixed32
            }
            _ => return Err(ProtobufError::Malformed),
        };
        out.push((tag >> 3, value));
    }
    Ok(out)
}

fn string(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Malformed)
}

/// A map entry message: key = 1, value = 2 (absent value: the type's zero value).
fn entry(bytes: &[u8]) -> Result<(String, Option<Wire<'_>>), ProtobufError> {
    let mut key = String::new();
    let mut value = None;
    for (n, w) in fields(bytes)? {
        match (n, w) {
            (1, Wire::Bytes(b)) => key = string(b)?,
            (2, w) => value = Some(w),
            _ => {}
        }
    }
    Ok((key, value))
}

/// Time and MicroTime: `{seconds = 1, nanos = 2}`; the zero time is Go's `null`, dropped.
fn time(bytes: &[u8], micro: bool) -> Result<Option<Value>, ProtobufError> {
    let (mut seconds, mut nanos) = (0i64, 0u32);
    for (n, w) in fields(bytes)? {
        match (n, w) {
            // Two's complement, as protobuf writes int64.
            (1, Wire::Varint(v)) => seconds = v as i64,
            (2, Wire::Varint(v)) => nanos = u32::try_from(v).unwrap_or(0),
            _ => {}
        }
    }
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(chrono::DateTime::from_timestamp(seconds, nanos)
        .map(|t| Value::String(t.format(format).to_string())))
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let frac = |value: u64, digits: u32| {
        let scale = 10u64.pow(digits);
        let (whole, rest) = (value / scale, value % scale);
        if rest == 0 {
            whole.to_string()
        } else {
            let rest = format!("{rest:0width$}", width = digits as usize);
            format!("{whole}.{}", rest.trim_end_matches('0'))
        }
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", frac(u, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", frac(u, 6));
    }
    let seconds = u / 1_000_000_000;
    let mut out = format!("{}s", frac(u % 60_000_000_000, 9));
    let minutes = seconds / 60;
    if minutes > 0 {
        out = format!("{}m{out}", minutes % 60);
        let hours = minutes / 60;
        if hours > 0 {
            out = format!("{hours}h{out}");
        }
    }
    format!("{sign}{out}")
}

/// A scalar value; `keep_zero` for list items and map values, which Go never omits.
fn scalar(ty: &Ty, wire: Wire<'_>, keep_zero: bool) -> Result<Option<Value>, ProtobufError> {
    let v = match (ty, wire) {
        (Ty::Str, Wire::Bytes(b)) => Value::String(string(b)?),
        // Negative int32s are sign-extended to 64 bits on the wire.
        (Ty::I32 | Ty::I64, Wire::Varint(v)) => json!(v as i64),
        (Ty::Bool, Wire::Varint(v)) => return Ok(Some(Value::Bool(v != 0))),
        (Ty::Double, Wire::Fixed64(v)) => json!(f64::from_bits(v)),
        (Ty::Bytes, Wire::Bytes(b)) => Value::String(STANDARD.encode(b)),
        _ => return Err(ProtobufError::Malformed),
    };
    let zero = match &v {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    };
    Ok((keep_zero || !zero).then_some(v))
}

/// Embedded JSON (`RawExtension`, `JSON`, `FieldsV1`: `raw = 1`).
fn raw_json(bytes: &[u8]) -> Result<Option<Value>, ProtobufError> {
    for (n, w) in fields(bytes)? {
        if let (1, Wire::Bytes(b)) = (n, w) {
            if b.is_empty() {
                return Ok(None);
            }
            return serde_json::from_slice(b)
                .map(Some)
                .map_err(|_| ProtobufError::Malformed);
        }
    }
    Ok(None)
}

/// A message's value in JSON; `None` when Go would omit it (a zero time, an empty raw JSON).
/// An empty message stays `{}`: Go writes a struct field it has, pointer (`emptyDir: {}`)
/// or not (`resources: {}`), both in protobuf and in JSON.
fn message(t: &Table, name: &str, bytes: &[u8]) -> Result<Option<Value>, ProtobufError> {
    let short = name.rsplit('.').next().unwrap_or(name);
    match name {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time" => return time(bytes, false),
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => return time(bytes, true),
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            let m = object(t, name, bytes)?;
            return Ok(m.get("string").cloned());
        }
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            let m = object(t, name, bytes)?;
            let is_string = m.get("type").and_then(Value::as_i64) == Some(1);
            return Ok(Some(if is_string {
                m.get("strVal").cloned().unwrap_or_else(|| json!(""))
            } else {
                m.get("intVal").cloned().unwrap_or_else(|| json!(0))
            }));
        }
        "io.k8s.apimachinery.pkg.runtime.RawExtension"
        | "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON" => {
            return raw_json(bytes);
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.Duration" => {
            let m = object(t, name, bytes)?;
            let nanos = m.get("duration").and_then(Value::as_i64).unwrap_or(0);
            return Ok(Some(Value::String(go_duration(nanos))));
        }
        _ => {}
    }
    let mut m = object(t, name, bytes)?;
    let v = match short {
        // `{items}` wrappers, lists in JSON.
        "ExtraValue" | "Verbs" => m.remove("items").unwrap_or_else(|| json!([])),
        // The list member is the one array among the fields.
        "JSONSchemaPropsOrArray" | "JSONSchemaPropsOrStringArray" => {
            match m.values().find(|v| v.is_array()) {
                Some(list) => list.clone(),
                None => m.remove("schema").unwrap_or_else(|| json!({})),
            }
        }
        "JSONSchemaPropsOrBool" => match m.remove("schema") {
            Some(schema) => schema,
            None => m.remove("allows").unwrap_or(Value::Bool(false)),
        },
        _ => Value::Object(m),
    };
    Ok(Some(v))
}

fn value(
    t: &Table,
    f: &FieldDef,
    wire: Wire<'_>,
    keep_zero: bool,
) -> Result<Option<Value>, ProtobufError> {
    match (&f.ty, wire) {
        (Ty::Msg(name), Wire::Bytes(b)) => message(t, name, b),
        (Ty::Msg(_), _) => Err(ProtobufError::Malformed),
        (ty, w) => scalar(ty, w, keep_zero),
    }
}

/// Decodes one message as a JSON object by its table entry.
fn object(t: &Table, name: &str, buf: &[u8]) -> Result<Map<String, Value>, ProtobufError> {
    let layout = t.messages.get(name).map(Vec::as_slice).unwrap_or_default();
    let mut out = Map::new();
    for (number, wire) in fields(buf)? {
        let Some(f) = layout.iter().find(|f| f.tag == number) else {
            continue;
        };
        if f.map {
            let Wire::Bytes(b) = wire else {
                return Err(ProtobufError::Malformed);
            };
            let (key, v) = entry(b)?;
            let v = match v {
                Some(w) => value(t, f, w, true)?,
                None => match &f.ty {
                    Ty::Msg(name) => message(t, name, &[])?,
                    ty => Some(zero(ty)),
                },
            };
            let map = out.entry(f.json.clone()).or_insert_with(|| json!({}));
            if let (Some(m), Some(v)) = (map.as_object_mut(), v) {
                m.insert(key, v);
            }
        } else if f.repeated {
            let mut items = Vec::new();
            match (&f.ty, wire) {
                // Packed scalars: one length-delimited run of values.
                (Ty::I32 | Ty::I64 | Ty::Bool, Wire::Bytes(b)) => {
                    let mut pos = 0;
                    while pos < b.len() {
                        let v = varint(b, &mut pos)?;
                        items.extend(scalar(&f.ty, Wire::Varint(v), true)?);
                    }
                }
                (Ty::Double, Wire::Bytes(b)) => {
                    for chunk in b.chunks(8) {
                        let a: [u8; 8] = chunk.try_into().map_err(|_| ProtobufError::Malformed)?;
                        items.push(json!(f64::from_le_bytes(a)));
                    }
                }
                (_, w) => items.extend(value(t, f, w, true)?),
            }
            let list = out.entry(f.json.clone()).or_insert_with(|| json!([]));
            if let Some(l) = list.as_array_mut() {
                l.extend(items);
            }
        } else if let Some(v) = value(t, f, wire, false)? {
            match (f.inline, v) {
                (true, Value::Object(inner)) => out.extend(inner),
                (_, v) => {
                    out.insert(f.json.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

fn zero(ty: &Ty) -> Value {
    match ty {
        Ty::Str | Ty::Bytes => json!(""),
        Ty::I32 | Ty::I64 | Ty::Double => json!(0),
        Ty::Bool => Value::Bool(false),
        Ty::Msg(_) => json!({}),
    }
}

/// Decodes a `k8s\0`-prefixed protobuf body into the object's JSON.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let unknown = body.strip_prefix(b"k8s\0").ok_or(ProtobufError::Magic)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, w) in fields(unknown)? {
        match (n, w) {
            (1, Wire::Bytes(b)) => {
                for (tn, tw) in fields(b)? {
                    match (tn, tw) {
                        (1, Wire::Bytes(v)) => api_version = string(v)?,
                        (2, Wire::Bytes(v)) => kind = string(v)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let t = table()?;
    let name = t
        .kinds
        .get(&format!("{api_version} {kind}"))
        .ok_or_else(|| ProtobufError::UnsupportedKind(format!("{api_version}, Kind={kind}")))?;
    let mut object = object(t, name, raw)?;
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((n << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_configmap() {
        let labels = [len_field(1, b"app"), len_field(2, b"web")].concat();
        let meta = [
            len_field(1, b"c1"),
            len_field(2, b""),
            len_field(11, &labels),
        ]
        .concat();
        let data = [len_field(1, b"k"), len_field(2, b"v")].concat();
        let raw = [len_field(1, &meta), len_field(2, &data), vec![4 << 3, 1]].concat();
        let type_meta = [len_field(1, b"v1"), len_field(2, b"ConfigMap")].concat();
        let unknown = [len_field(1, &type_meta), len_field(2, &raw)].concat();
        let body = [b"k8s\0".to_vec(), unknown].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c1", "labels": {"app": "web"}},
                "data": {"k": "v"}, "immutable": true})
        );
    }

    fn put_varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A length-delimited field of any length.
    fn lf(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint((n << 3) | 2, &mut out);
        put_varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
        out
    }

    fn vf(n: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(n << 3, &mut out);
        put_varint(v, &mut out);
        out
    }

    fn body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [lf(1, api_version.as_bytes()), lf(2, kind.as_bytes())].concat();
        let unknown = [lf(1, &type_meta), lf(2, raw)].concat();
        [b"k8s\0".to_vec(), unknown].concat()
    }

    #[test]
    fn decodes_a_deployment_generically() {
        let meta = [
            lf(1, b"web"),
            lf(3, b"default"),
            lf(8, &vf(1, 1_700_000_000)),
            lf(11, &[lf(1, b"app"), lf(2, b"web")].concat()),
        ]
        .concat();
        let selector = lf(1, &[lf(1, b"app"), lf(2, b"web")].concat());
        // Container: name 1, image 2, ports 6 {containerPort 3, protocol 4},
        // resources 8 {limits 1: map<string, Quantity>}, readinessProbe 11 {handler 1
        // (inlined) {httpGet 2 {path 1, port 2 IntOrString}}, periodSeconds 4}.
        let port = [vf(3, 8080), lf(4, b"TCP")].concat();
        let limits = lf(1, &[lf(1, b"cpu"), lf(2, &lf(1, b"500m"))].concat());
        let http_get = [
            lf(1, b"/healthz"),
            lf(2, &[vf(1, 1), lf(3, b"http")].concat()),
        ]
        .concat();
        let probe = [lf(1, &lf(2, &http_get)), vf(4, 5)].concat();
        let container = [
            lf(1, b"nginx"),
            lf(2, b"nginx:1.27"),
            lf(6, &port),
            lf(8, &limits),
            lf(11, &probe),
            lf(5, b""),
        ]
        .concat();
        // Volume: name 1, volumeSource 2 (inlined) {emptyDir 2 {}}.
        let volume = [lf(1, b"tmp"), lf(2, &lf(2, b""))].concat();
        let pod_spec = [lf(1, &volume), lf(2, &container), vf(4, 30)].concat();
        let template = [
            lf(1, &lf(11, &[lf(1, b"app"), lf(2, b"web")].concat())),
            lf(2, &pod_spec),
        ]
        .concat();
        // Strategy: type 1, rollingUpdate 2 {maxUnavailable 1 IntOrString int 0, maxSurge 2 "25%"}.
        let rolling = [
            lf(1, &[vf(1, 0), vf(2, 0)].concat()),
            lf(2, &[vf(1, 1), lf(3, b"25%")].concat()),
        ]
        .concat();
        let strategy = [lf(1, b"RollingUpdate"), lf(2, &rolling)].concat();
        let spec = [
            vf(1, 2),
            lf(2, &selector),
            lf(3, &template),
            lf(4, &strategy),
            vf(6, 0),
            vf(7, 1),
        ]
        .concat();
        let raw = [lf(1, &meta), lf(2, &spec), lf(3, b"")].concat();
        let v = decode(&body("apps/v1", "Deployment", &raw)).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "default",
                    "creationTimestamp": "2023-11-14T22:13:20Z", "labels": {"app": "web"}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                        "containers": [{"name": "nginx", "image": "nginx:1.27",
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "500m"}},
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 5}}],
                        "terminationGracePeriodSeconds": 30}},
                    "strategy": {"type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
                    "paused": true},
                "status": {}})
        );
    }

    #[test]
    fn decodes_lists_raw_json_packed_scalars_and_durations() {
        // PolicyRule: verbs 1, apiGroups 2, resources 3 (repeated strings keep "").
        let rule = [lf(1, b"get"), lf(1, b"list"), lf(2, b""), lf(3, b"pods")].concat();
        let v = decode(&body(
            "rbac.authorization.k8s.io/v1",
            "Role",
            &[lf(1, &lf(1, b"r")), lf(2, &rule)].concat(),
        ))
        .unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "r"},
                "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]})
        );
        // ControllerRevision: data 2 is a RawExtension {raw 1}, revision 3.
        let data = lf(1, br#"{"a":[1,"x"]}"#);
        let v = decode(&body(
            "apps/v1",
            "ControllerRevision",
            &[lf(2, &data), vf(3, 4)].concat(),
        ))
        .unwrap();
        assert_eq!(v["data"], json!({"a": [1, "x"]}));
        assert_eq!(v["revision"], json!(4));
        // A packed repeated int32 decodes like unpacked ones (Go writes them unpacked).
        let mut packed = Vec::new();
        for n in [1u64, 300, 2] {
            put_varint(n, &mut packed);
        }
        let t = table().unwrap();
        let f = FieldDef {
            tag: 1,
            json: "xs".into(),
            ty: Ty::I32,
            repeated: true,
            map: false,
            inline: false,
        };
        let mut tt = Table::default();
        tt.messages.insert("m".into(), vec![f]);
        let o = object(&tt, "m", &[lf(1, &packed), vf(1, 7)].concat()).unwrap();
        assert_eq!(Value::Object(o), json!({"xs": [1, 300, 2, 7]}));
        assert!(t.kinds.contains_key("v1 Namespace"));
        for (d, s) in [
            (0, "0s"),
            (1_500_000, "1.5ms"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-2_000_000_000, "-2s"),
        ] {
            assert_eq!(go_duration(d), s);
        }
    }

    #[test]
    fn the_table_is_complete() {
        let t = table().unwrap();
        for (av, kind) in [
            ("v1", "Namespace"),
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("v1", "ServiceAccount"),
            ("v1", "DeleteOptions"),
            ("meta.k8s.io/v1", "DeleteOptions"),
            ("authentication.k8s.io/v1", "TokenRequest"),
            ("apps/v1", "Deployment"),
            ("batch/v1", "CronJob"),
            ("v1", "Service"),
            ("scheduling.k8s.io/v1", "PriorityClass"),
            ("networking.k8s.io/v1", "Ingress"),
            ("policy/v1", "PodDisruptionBudget"),
            ("v1", "ResourceQuota"),
        ] {
            assert!(t.kinds.contains_key(&format!("{av} {kind}")), "{av} {kind}");
        }
        for fields in t.messages.values() {
            for f in fields {
                if let Ty::Msg(m) = &f.ty {
                    assert!(t.messages.contains_key(m), "{m}");
                }
            }
        }
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode(b"{}"), Err(ProtobufError::Magic));
        assert_eq!(decode(b"k8s\0\x0a\x05ab"), Err(ProtobufError::Malformed));
    }
}
