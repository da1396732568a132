//! API errors as the Kubernetes API server reports them: a `kind: Status` object with `code`,
//! `reason`, `message` and `details`, sent with the same HTTP status as `code`.
//!
//! Clients branch on `reason` and `code` (client-go's `apierrors.IsConflict`, kube-rs'
//! `ErrorResponse`), and kubectl prints `message` verbatim, so the messages follow the real
//! server's wording: `configmaps "x" not found`, `namespaces "zzz" not found`,
//! `Operation cannot be fulfilled on configmaps "x": the object has been modified; …`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// One entry of `details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// `Status.details`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    pub name: Option<String>,
    pub group: Option<String>,
    /// The resource (plural) for storage errors, as the real server does.
    pub kind: Option<String>,
    pub causes: Vec<Cause>,
    /// `details.retryAfterSeconds` (429, 503).
    pub retry_after_seconds: Option<u32>,
}

/// A failed request, rendered as a `Status` object. Details are boxed to keep the error
/// small: it travels in every `Result` of the request path.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Box<Details>,
}

/// `resource` or `resource.group`, the qualified resource name used in messages.
pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Box::default(),
        }
    }

    fn about(mut self, group: &str, resource: &str, name: &str) -> Self {
        self.details.name = (!name.is_empty()).then(|| name.to_string());
        self.details.group = (!group.is_empty()).then(|| group.to_string());
        self.details.kind = Some(resource.to_string());
        self
    }

    pub fn with_cause(mut self, reason: &str, message: &str, field: &str) -> Self {
        self.details.causes.push(Cause {
            reason: reason.to_string(),
            message: message.to_string(),
            field: field.to_string(),
        });
        self
    }

    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", qualified(group, resource));
        ApiError::new(404, "NotFound", message).about(group, resource, name)
    }

    /// 404 for a path that names no known resource.
    pub fn no_route() -> Self {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", qualified(group, resource));
        ApiError::new(409, "AlreadyExists", message).about(group, resource, name)
    }

    /// The optimistic-concurrency failure every controller retries on.
    pub fn conflict_modified(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": {why}",
            qualified(group, resource)
        );
        ApiError::new(409, "Conflict", message).about(group, resource, name)
    }

    /// 422 Invalid: `Kind.group "name" is invalid: field: detail`.
    pub fn invalid(group: &str, kind: &str, name: &str, field: &str, detail: &str) -> Self {
        let message = format!(
            "{} \"{name}\" is invalid: {field}: {detail}",
            qualified(group, kind)
        );
        let mut e = ApiError::new(422, "Invalid", message).about(group, kind, name);
        e.details.causes.push(Cause {
            reason: "FieldValueInvalid".to_string(),
            message: detail.to_string(),
            field: field.to_string(),
        });
        e
    }

    /// 422 Invalid with several causes: `Kind.group "name" is invalid: <aggregate>`.
    pub fn invalid_causes(
        group: &str,
        kind: &str,
        name: &str,
        aggregate: &str,
        causes: Vec<Cause>,
    ) -> Self {
        let message = format!(
            "{} \"{name}\" is invalid: {aggregate}",
            qualified(group, kind)
        );
        let mut e = ApiError::new(422, "Invalid", message).about(group, kind, name);
        e.details.causes = causes;
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(403, "Forbidden", message)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    /// 415. The real server names what it accepts, not what it got.
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        let message = format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        );
        ApiError::new(415, "UnsupportedMediaType", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, "InternalError", message)
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        ApiError::new(503, "ServiceUnavailable", message)
    }

    /// The watch-stream 410: "too old resource version: N (M)".
    pub fn expired(requested: u64, oldest: u64) -> Self {
        ApiError::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = Map::new();
        status.insert("kind".into(), json!("Status"));
        status.insert("apiVersion".into(), json!("v1"));
        status.insert("metadata".into(), json!({}));
        status.insert("status".into(), json!("Failure"));
        status.insert("message".into(), json!(self.message));
        status.insert("reason".into(), json!(self.reason));
        let mut details = Map::new();
        if let Some(name) = &self.details.name {
            details.insert("name".into(), json!(name));
        }
        if let Some(group) = &self.details.group {
            details.insert("group".into(), json!(group));
        }
        if let Some(kind) = &self.details.kind {
            details.insert("kind".into(), json!(kind));
        }
        if !self.details.causes.is_empty() {
            let causes: Vec<Value> = self
                .details
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(seconds) = self.details.retry_after_seconds {
            details.insert("retryAfterSeconds".into(), json!(seconds));
        }
        if !details.is_empty() {
            status.insert("details".into(), Value::Object(details));
        }
        status.insert("code".into(), json!(self.code));
        Value::Object(status)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = crate::api::json_response(code, &self.to_status());
        if let Some(seconds) = self.details.retry_after_seconds
            && let Ok(v) = axum::http::HeaderValue::from_str(&seconds.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_qualified_resource() {
        let e = ApiError::not_found("", "namespaces", "zzz");
        assert_eq!(e.message, "namespaces \"zzz\" not found");
        let e = ApiError::not_found("apps", "deployments", "web");
        assert_eq!(e.message, "deployments.apps \"web\" not found");
        let s = e.to_status();
        assert_eq!(s["details"]["kind"], "deployments");
        assert_eq!(s["details"]["group"], "apps");
        assert_eq!(s["code"], 404);
    }

    #[test]
    fn conflict_uses_the_client_go_wording() {
        let e = ApiError::conflict_modified("", "configmaps", "c");
        assert!(e.message.ends_with(
            "the object has been modified; please apply your changes to the latest version and try again"
        ));
        assert_eq!(e.reason, "Conflict");
    }
}
