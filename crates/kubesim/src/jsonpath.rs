//! The JSONPath subset CRD `additionalPrinterColumns` use: `.a.b`, `[n]`, `['key']`
//! and filters `[?(@.field=="value")]` (first match), as in
//! `.status.conditions[?(@.type=="Ready")].status`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    Filter { path: Vec<String>, value: String },
}

fn parse(expr: &str) -> Option<Vec<Step>> {
    let expr = expr.trim().trim_start_matches('{').trim_end_matches('}');
    let mut steps = Vec::new();
    let mut rest = expr.strip_prefix('$').unwrap_or(expr);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                steps.push(Step::Field(r[..end].to_string()));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']')?;
            let inner = &r[..close];
            rest = &r[close + 1..];
            if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (path, value) = f.split_once("==")?;
                let value = value.trim().trim_matches(['"', '\'']).to_string();
                let path = path.trim().split('.').map(str::to_string).collect();
                steps.push(Step::Filter { path, value });
            } else if let Ok(i) = inner.parse() {
                steps.push(Step::Index(i));
            } else {
                steps.push(Step::Field(inner.trim_matches(['"', '\'']).to_string()));
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

/// The value `expr` selects in `object`, if any.
pub fn select<'a>(object: &'a Value, expr: &str) -> Option<&'a Value> {
    let steps = parse(expr)?;
    let mut v = object;
    for s in &steps {
        v = match s {
            Step::Field(f) => v.get(f)?,
            Step::Index(i) => v.get(*i)?,
            Step::Filter { path, value } => v.as_array()?.iter().find(|item| {
                path.iter()
                    .try_fold(*item, |x, k| x.get(k))
                    .is_some_and(|x| match x {
                        Value::String(s) => s == value,
                        other => serde_json::from_str::<Value>(value).is_ok_and(|v| &v == other),
                    })
            })?,
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_fields_indexes_and_filters() {
        let o = json!({"spec": {"replicas": 3, "hosts": ["a", "b"]},
            "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(select(&o, ".spec.replicas"), Some(&json!(3)));
        assert_eq!(select(&o, ".spec.hosts[1]"), Some(&json!("b")));
        assert_eq!(
            select(&o, r#".status.conditions[?(@.type=="Ready")].status"#),
            Some(&json!("True"))
        );
        assert_eq!(select(&o, ".spec['replicas']"), Some(&json!(3)));
        assert_eq!(select(&o, ".spec.missing"), None);
    }
}
