//! Request bodies: size limit and decoding by content type.

use super::Ctx;
use crate::status::ApiError;
use axum::body::Body;
use bytes::Bytes;
use serde_json::Value;

/// The real server's request body limit (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// How much of an oversized body is read (and dropped) before answering 413, so that
/// the client, still sending, reads the Status instead of a broken pipe.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

pub async fn read(body: Body) -> Result<Bytes, ApiError> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
        seen = seen.saturating_add(chunk.len());
        if seen <= MAX_BODY {
            buf.extend_from_slice(&chunk);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > MAX_BODY {
        return Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {MAX_BODY}"),
        ));
    }
    Ok(buf.freeze())
}

/// The media type without parameters, lowercased.
pub fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Parses JSON, or YAML (of which JSON is a subset).
pub fn parse_json_or_yaml(bytes: &[u8], yaml: bool) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(v),
        Err(e) if !yaml => Err(ApiError::bad_request(format!(
            "the object provided is unrecognized: {e}"
        ))),
        Err(_) => {
            let text = std::str::from_utf8(bytes)
                .map_err(|e| ApiError::bad_request(format!("body is not UTF-8: {e}")))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
        }
    }
}

/// Decodes the object of a create or update and checks its apiVersion and kind against
/// the resource, filling them in when absent.
pub fn decode_object(ctx: &Ctx<'_>, bytes: &[u8]) -> Result<Value, ApiError> {
    let media = media_type(ctx.content_type.as_deref());
    let yaml = match media.as_str() {
        "application/json" | "" | "*/*" => false,
        "application/yaml" | "application/x-yaml" | "text/yaml" => true,
        "application/vnd.kubernetes.protobuf" => {
            let object = crate::protobuf::decode(bytes).map_err(|e| match e {
                crate::protobuf::ProtobufError::UnsupportedKind(_) => {
                    ApiError::unsupported_media_type(&["application/json", "application/yaml"])
                }
                other => {
                    ApiError::bad_request(format!("the object provided is unrecognized: {other}"))
                }
            })?;
            return check_type(ctx, object);
        }
        _ => {
            return Err(ApiError::unsupported_media_type(&[
                "application/json",
                "application/yaml",
            ]));
        }
    };
    check_type(ctx, parse_json_or_yaml(bytes, yaml)?)
}

/// Checks a decoded object's apiVersion and kind against the resource, filling them in
/// when absent, and makes sure it has `metadata`.
fn check_type(ctx: &Ctx<'_>, mut object: Value) -> Result<Value, ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized (must be of type Object)",
        ));
    };
    let expected_version = ctx.info.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), Value::String(expected_version));
        }
        Some(v) if v != expected_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected_version})"
            )));
        }
        Some(_) => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), Value::String(ctx.info.kind.clone()));
        }
        Some(k) if k != ctx.info.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                ctx.info.kind
            )));
        }
        Some(_) => {}
    }
    if !map.get("metadata").is_some_and(Value::is_object) {
        map.insert("metadata".into(), Value::Object(Default::default()));
    }
    Ok(object)
}
