//! Query parameters of API requests (`ListOptions`, `CreateOptions`, `PatchOptions`, …).

use crate::status::ApiError;

/// Decodes `application/x-www-form-urlencoded` text (`%XX` escapes, `+` for space).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parsed query parameters; absent ones are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub watch: bool,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub allow_watch_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub field_manager: Option<String>,
    pub field_validation: Option<String>,
    pub dry_run: bool,
    pub force: bool,
    pub propagation_policy: Option<String>,
    /// `pods/log`: `container`, `tailLines`, `previous`, `timestamps`, `limitBytes`.
    pub log: LogOptions,
    /// `includeObject` of Table requests: `None`, `Metadata` (default) or `Object`.
    pub include_object: Option<String>,
}

/// The options of a `pods/<name>/log` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub container: Option<String>,
    pub tail_lines: Option<i64>,
    pub previous: bool,
    pub timestamps: bool,
    pub limit_bytes: Option<usize>,
}

fn boolean(v: &str) -> bool {
    matches!(v, "true" | "1" | "True" | "TRUE")
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = Query::default();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match percent_decode(k).as_str() {
                "watch" => q.watch = boolean(&v),
                "labelSelector" => q.label_selector = Some(v),
                "fieldSelector" => q.field_selector = Some(v),
                "resourceVersion" => q.resource_version = Some(v),
                "resourceVersionMatch" => q.resource_version_match = Some(v),
                "timeoutSeconds" => {
                    q.timeout_seconds = Some(v.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid timeoutSeconds {v:?}"))
                    })?)
                }
                "allowWatchBookmarks" => q.allow_watch_bookmarks = boolean(&v),
                "sendInitialEvents" => q.send_initial_events = Some(boolean(&v)),
                "limit" => {
                    q.limit = v.parse().ok().filter(|l: &usize| *l > 0);
                }
                "continue" => q.continue_token = Some(v).filter(|s| !s.is_empty()),
                "fieldManager" => q.field_manager = Some(v),
                "fieldValidation" => q.field_validation = Some(v),
                "dryRun" => q.dry_run = v == "All",
                "force" => q.force = boolean(&v),
                "propagationPolicy" => q.propagation_policy = Some(v),
                "container" => q.log.container = Some(v).filter(|s| !s.is_empty()),
                "tailLines" => {
                    q.log.tail_lines =
                        Some(v.parse().map_err(|_| {
                            ApiError::bad_request(format!("invalid tailLines {v:?}"))
                        })?)
                }
                "previous" => q.log.previous = boolean(&v),
                "timestamps" => q.log.timestamps = boolean(&v),
                "limitBytes" => q.log.limit_bytes = v.parse().ok(),
                "includeObject" => q.include_object = Some(v),
                _ => {}
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_selectors() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29&watch=1&timeoutSeconds=5",
        ))
        .unwrap();
        assert_eq!(q.label_selector.as_deref(), Some("app=web,tier in (a,b)"));
        assert!(q.watch);
        assert_eq!(q.timeout_seconds, Some(5));
    }

    #[test]
    fn truncated_escape_is_kept() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41"), "A");
    }
}
