//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded to JSON.
//!
//! client-go ≥ 1.32 sends built-in kinds as protobuf: `kubectl create namespace|configmap|
//! secret|serviceaccount|token`, Helm's release Secrets and the `DeleteOptions` of its deletes
//! do. The body is the magic `k8s\0`
//! followed by a `runtime.Unknown` message (`typeMeta` = 1 with apiVersion = 1 and kind = 2,
//! `raw` = 2 holding the object's own message).
//!
//! Protobuf carries field numbers, not names, so decoding needs each message's layout.
//! The tables below give them for the kinds clients send this way (field numbers from the
//! Kubernetes `generated.proto` files). Go omits zero values from JSON (`omitempty`), and
//! its protobuf encoder writes empty strings and zero times, so those are dropped here.
//! Other kinds get 415 (clients that send them as protobuf are not known).

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
}

/// How a field's value is written in JSON.
#[derive(Debug, Clone, Copy)]
enum F {
    Str,
    I64,
    Bool,
    Time,
    Msg(&'static [Field]),
    MapStr,
    /// `map<string, bytes>`, base64 in JSON.
    MapBytes,
    RepStr,
    RepMsg(&'static [Field]),
}

type Field = (u64, &'static str, F);

const OWNER_REFERENCE: &[Field] = &[
    (5, "apiVersion", F::Str),
    (1, "kind", F::Str),
    (3, "name", F::Str),
    (4, "uid", F::Str),
    (6, "controller", F::Bool),
    (7, "blockOwnerDeletion", F::Bool),
];

const OBJECT_META: &[Field] = &[
    (1, "name", F::Str),
    (2, "generateName", F::Str),
    (3, "namespace", F::Str),
    (5, "uid", F::Str),
    (6, "resourceVersion", F::Str),
    (7, "generation", F::I64),
    (8, "creationTimestamp", F::Time),
    (9, "deletionTimestamp", F::Time),
    (10, "deletionGracePeriodSeconds", F::I64),
    (11, "labels", F::MapStr),
    (12, "annotations", F::MapStr),
    (13, "ownerReferences", F::RepMsg(OWNER_REFERENCE)),
    (14, "finalizers", F::RepStr),
];

const CONFIG_MAP: &[Field] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapStr),
    (3, "binaryData", F::MapBytes),
    (4, "immutable", F::Bool),
];

const SECRET: &[Field] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapBytes),
    (3, "type", F::Str),
    (4, "stringData", F::MapStr),
    (5, "immutable", F::Bool),
];

const NAMESPACE: &[Field] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "spec", F::Msg(&[(1, "finalizers", F::RepStr)])),
    (3, "status", F::Msg(&[(1, "phase", F::Str)])),
];

const OBJECT_REFERENCE: &[Field] = &[
    (1, "kind", F::Str),
    (2, "namespace", F::Str),
    (3, "name", F::Str),
    (4, "uid", F::Str),
    (5, "apiVersion", F::Str),
    (6, "resourceVersion", F::Str),
    (7, "fieldPath", F::Str),
];

const SERVICE_ACCOUNT: &[Field] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "secrets", F::RepMsg(OBJECT_REFERENCE)),
    (3, "imagePullSecrets", F::RepMsg(&[(1, "name", F::Str)])),
    (4, "automountServiceAccountToken", F::Bool),
];

const DELETE_OPTIONS: &[Field] = &[
    (1, "gracePeriodSeconds", F::I64),
    (
        2,
        "preconditions",
        F::Msg(&[(1, "uid", F::Str), (2, "resourceVersion", F::Str)]),
    ),
    (3, "orphanDependents", F::Bool),
    (4, "propagationPolicy", F::Str),
    (5, "dryRun", F::RepStr),
];

const TOKEN_REQUEST: &[Field] = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (
        2,
        "spec",
        F::Msg(&[
            (1, "audiences", F::RepStr),
            (4, "expirationSeconds", F::I64),
            (
                3,
                "boundObjectRef",
                F::Msg(&[
                    (1, "kind", F::Str),
                    (2, "apiVersion", F::Str),
                    (3, "name", F::Str),
                    (4, "uid", F::Str),
                ]),
            ),
        ]),
    ),
];

fn layout(api_version: &str, kind: &str) -> Option<&'static [Field]> {
    match (api_version, kind) {
        ("authentication.k8s.io/v1", "TokenRequest") => Some(TOKEN_REQUEST),
        ("v1" | "meta.k8s.io/v1", "DeleteOptions") => Some(DELETE_OPTIONS),
        ("v1", "ConfigMap") => Some(CONFIG_MAP),
        ("v1", "Secret") => Some(SECRET),
        ("v1", "Namespace") => Some(NAMESPACE),
        ("v1", "ServiceAccount") => Some(SERVICE_ACCOUNT),
        _ => None,
    }
}

/// One field as it appears on the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// Fixed-width values; no field kubesim decodes uses them.
    Fixed,
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

/// Splits a message into `(field number, value)` pairs.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, ProtobufError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let value = match tag & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 => {
                pos += 8;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?)
                    .map_err(|_| ProtobufError::Malformed)?;
                let end = pos.checked_add(len).ok_or(ProtobufError::Malformed)?;
                let bytes = buf.get(pos..end).ok_or(ProtobufError::Malformed)?;
                pos = end;
                Wire::Bytes(bytes)
            }
            5 => {
                pos += 4;
                Wire::Fixed
            }
            _ => return Err(ProtobufError::Malformed),
        };
        if pos > buf.len() {
            return Err(ProtobufError::Malformed);
        }
        out.push((tag >> 3, value));
    }
    Ok(out)
}

fn string(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Malformed)
}

/// A map entry message: key = 1, value = 2.
fn entry(bytes: &[u8]) -> Result<(String, &[u8]), ProtobufError> {
    let mut key = String::new();
    let mut value: &[u8] = &[];
    for (n, w) in fields(bytes)? {
        match (n, w) {
            (1, Wire::Bytes(b)) => key = string(b)?,
            (2, Wire::Bytes(b)) => value = b,
            _ => {}
        }
    }
    Ok((key, value))
}

fn time(bytes: &[u8]) -> Result<Option<String>, ProtobufError> {
    let mut seconds = 0i64;
    for (n, w) in fields(bytes)? {
        if let (1, Wire::Varint(v)) = (n, w) {
            // Two's complement, as protobuf writes int64.
            seconds = v as i64;
        }
    }
    if seconds == 0 {
        return Ok(None);
    }
    Ok(chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn decode_message(layout: &[Field], buf: &[u8]) -> Result<Map<String, Value>, ProtobufError> {
    let mut out = Map::new();
    for (number, wire) in fields(buf)? {
        let Some((_, name, kind)) = layout.iter().find(|(n, _, _)| *n == number) else {
            continue;
        };
        let name = (*name).to_string();
        match (kind, wire) {
            (F::Str, Wire::Bytes(b)) => {
                let s = string(b)?;
                if !s.is_empty() {
                    out.insert(name, Value::String(s));
                }
            }
            (F::I64, Wire::Varint(v)) => {
                if v != 0 {
                    out.insert(name, json!(v as i64));
                }
            }
            (F::Bool, Wire::Varint(v)) => {
                out.insert(name, Value::Bool(v != 0));
            }
            (F::Time, Wire::Bytes(b)) => {
                if let Some(t) = time(b)? {
                    out.insert(name, Value::String(t));
                }
            }
            (F::Msg(inner), Wire::Bytes(b)) => {
                let m = decode_message(inner, b)?;
                if !m.is_empty() {
                    out.insert(name, Value::Object(m));
                }
            }
            (F::MapStr | F::MapBytes, Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                let v = match kind {
                    F::MapBytes => STANDARD.encode(v),
                    _ => string(v)?,
                };
                let map = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = map.as_object_mut() {
                    m.insert(k, Value::String(v));
                }
            }
            (F::RepStr, Wire::Bytes(b)) => {
                let list = out.entry(name).or_insert_with(|| json!([]));
                if let Some(l) = list.as_array_mut() {
                    l.push(Value::String(string(b)?));
                }
            }
            (F::RepMsg(inner), Wire::Bytes(b)) => {
                let item = Value::Object(decode_message(inner, b)?);
                let list = out.entry(name).or_insert_with(|| json!([]));
                if let Some(l) = list.as_array_mut() {
                    l.push(item);
                }
            }
            _ => return Err(ProtobufError::Malformed),
        }
    }
    Ok(out)
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
    let layout = layout(&api_version, &kind)
        .ok_or_else(|| ProtobufError::UnsupportedKind(format!("{api_version}, Kind={kind}")))?;
    let mut object = decode_message(layout, raw)?;
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

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode(b"{}"), Err(ProtobufError::Magic));
        assert_eq!(decode(b"k8s\0\x0a\x05ab"), Err(ProtobufError::Malformed));
    }
}
