//! Label and field selectors, as `labelSelector=` and `fieldSelector=` query parameters.
//!
//! Label selectors follow apimachinery's grammar: comma-separated requirements, each one of
//! `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`, `key>N`,
//! `key<N`. `!=` and `notin` also match objects without the label, as in Kubernetes.
//!
//! Field selectors support `metadata.name` and `metadata.namespace` on every resource, plus
//! the handful of type-specific fields clients use (`status.phase` on pods, `type` on
//! secrets, `involvedObject.*` on events …); anything else is a 400, like the real server.

use crate::status::ApiError;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Exists,
    DoesNotExist,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Greater(i64),
    Less(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn invalid(selector: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to parse requirement: {why} in selector {selector:?}"
    ))
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn value_set(rest: &str, selector: &str) -> Result<Vec<String>, ApiError> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| invalid(selector, "expected a parenthesised value set"))?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
}

impl LabelSelector {
    pub fn parse(selector: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        if selector.trim().is_empty() {
            return Ok(LabelSelector { requirements });
        }
        for part in split_top_level(selector) {
            let part = part.trim();
            if let Some(key) = part.strip_prefix('!') {
                let key = key.trim();
                if !valid_key(key) {
                    return Err(invalid(selector, "invalid label key"));
                }
                requirements.push(Requirement {
                    key: key.to_string(),
                    op: Op::DoesNotExist,
                });
                continue;
            }
            let key_end = part
                .find(|c: char| c.is_whitespace() || matches!(c, '=' | '!' | '<' | '>'))
                .unwrap_or(part.len());
            let key = &part[..key_end];
            if !valid_key(key) {
                return Err(invalid(selector, "invalid label key"));
            }
            let rest = part[key_end..].trim_start();
            let op = if rest.is_empty() {
                Op::Exists
            } else if let Some(v) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
                Op::Equals(v.trim().to_string())
            } else if let Some(v) = rest.strip_prefix("!=") {
                Op::NotEquals(v.trim().to_string())
            } else if let Some(v) = rest.strip_prefix('>') {
                Op::Greater(
                    v.trim()
                        .parse()
                        .map_err(|_| invalid(selector, "for 'gt' an integer value is required"))?,
                )
            } else if let Some(v) = rest.strip_prefix('<') {
                Op::Less(
                    v.trim()
                        .parse()
                        .map_err(|_| invalid(selector, "for 'lt' an integer value is required"))?,
                )
            } else if let Some(v) = rest.strip_prefix("notin") {
                Op::NotIn(value_set(v, selector)?)
            } else if let Some(v) = rest.strip_prefix("in") {
                Op::In(value_set(v, selector)?)
            } else {
                return Err(invalid(selector, "unknown operator"));
            };
            requirements.push(Requirement {
                key: key.to_string(),
                op,
            });
        }
        Ok(LabelSelector { requirements })
    }

    /// The `key=value` pairs every matching object carries (from `=`, `==` and a one-value
    /// `in`).
    pub fn required(&self) -> impl Iterator<Item = (&str, &str)> {
        self.requirements.iter().filter_map(|r| match &r.op {
            Op::Equals(v) => Some((r.key.as_str(), v.as_str())),
            Op::In(set) if set.len() == 1 => Some((r.key.as_str(), set[0].as_str())),
            _ => None,
        })
    }

    /// Whether an object with these `metadata.labels` matches.
    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match (&r.op, value) {
                (Op::Exists, v) => v.is_some(),
                (Op::DoesNotExist, v) => v.is_none(),
                (Op::Equals(want), Some(v)) => v == want,
                (Op::NotEquals(want), v) => v != Some(want.as_str()),
                (Op::In(set), Some(v)) => set.iter().any(|s| s == v),
                (Op::NotIn(set), v) => v.is_none_or(|v| !set.iter().any(|s| s == v)),
                (Op::Greater(n), Some(v)) => v.parse::<i64>().is_ok_and(|v| v > *n),
                (Op::Less(n), Some(v)) => v.parse::<i64>().is_ok_and(|v| v < *n),
                _ => false,
            }
        })
    }
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// (path, wanted value, equal?)
    terms: Vec<(String, String, bool)>,
}

/// Fields beyond `metadata.name`/`metadata.namespace` that a kind can be selected by.
fn kind_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Secret" => &["type"],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
        ],
        "Namespace" => &["status.phase"],
        "Node" => &["spec.unschedulable"],
        "Job" => &["status.successful"],
        "ReplicaSet" | "ReplicationController" => &["status.replicas"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parses `selector` for objects of `kind`.
    pub fn parse(selector: &str, kind: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, value, equal) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, true)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            let supported = matches!(field, "metadata.name" | "metadata.namespace")
                || kind_fields(kind).contains(&field);
            if !supported {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push((field.to_string(), value.trim().to_string(), equal));
        }
        Ok(FieldSelector { terms })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(path, want, equal)| {
            let mut v = object;
            for seg in path.split('.') {
                v = v.get(seg).unwrap_or(&Value::Null);
            }
            let actual = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (actual == *want) == *equal
        })
    }
}

/// Both selectors of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn parse(labels: Option<&str>, fields: Option<&str>, kind: &str) -> Result<Self, ApiError> {
        Ok(Selectors {
            labels: LabelSelector::parse(labels.unwrap_or(""))?,
            fields: FieldSelector::parse(fields.unwrap_or(""), kind)?,
        })
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = object
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        self.labels.matches(labels) && self.fields.matches(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "n", "labels": labels}})
    }

    #[test]
    fn label_grammar() {
        let o = obj(json!({"app": "web", "tier": "front", "n": "5"}));
        let m = |s: &str| {
            LabelSelector::parse(s)
                .unwrap()
                .matches(o["metadata"]["labels"].as_object())
        };
        assert!(m(""));
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("missing!=x"));
        assert!(m("tier in (front, back)"));
        assert!(!m("tier notin (front)"));
        assert!(m("missing notin (front)"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m("n>4,n<6"));
        assert!(!m("n>5"));
        assert!(LabelSelector::parse("a in b").is_err());
        assert!(LabelSelector::parse("=x").is_err());
    }

    #[test]
    fn field_selectors() {
        let o = obj(json!({}));
        let f = FieldSelector::parse("metadata.name=a,metadata.namespace!=m", "ConfigMap").unwrap();
        assert!(f.matches(&o));
        let f = FieldSelector::parse("metadata.name==b", "ConfigMap").unwrap();
        assert!(!f.matches(&o));
        let e = FieldSelector::parse("spec.foo=x", "ConfigMap").unwrap_err();
        assert_eq!(e.code, 400);
        assert!(FieldSelector::parse("status.phase=Running", "Pod").is_ok());
    }
}
