//! JSON value helpers that follow structured-merge-diff's conventions rather than serde_json's.
//!
//! Three things differ from plain `serde_json`:
//! - **Ordering.** Field sets are sorted trees, and the order of `k:`/`v:` entries in
//!   `fieldsV1` is the order of their values. SMD orders numbers first (ints and floats
//!   compared numerically), then strings, booleans, lists, maps and finally null.
//! - **Equality.** `1` and `1.0` are the same value to the merge (a client may send either).
//! - **Rendering.** Conflict paths print values the way Go's `%q`/`%v` do, and `fieldsV1`
//!   keys hold JSON written by Go's encoder, which escapes `<`, `>` and `&`.

use serde_json::Value;
use std::cmp::Ordering;
use std::fmt::Write as _;

/// Rank of a value's kind in SMD's total order (numbers share a rank).
fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Ordering {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x.cmp(&y);
    }
    let x = a.as_f64().unwrap_or(f64::NAN);
    let y = b.as_f64().unwrap_or(f64::NAN);
    x.total_cmp(&y)
}

/// Total order over JSON values, as SMD's `value.Compare`.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    let (ra, rb) = (kind_rank(a), kind_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y.iter()) {
                let c = compare(l, r);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut li = sorted(x).into_iter();
            let mut ri = sorted(y).into_iter();
            loop {
                match (li.next(), ri.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some((lk, lv)), Some((rk, rv))) => {
                        let c = lk
                            .as_bytes()
                            .cmp(rk.as_bytes())
                            .then_with(|| compare(lv, rv));
                        if c != Ordering::Equal {
                            return c;
                        }
                    }
                }
            }
        }
        _ => Ordering::Equal,
    }
}

/// A map's entries in lexical key order, whatever order the map keeps (serde_json keeps
/// insertion order when its `preserve_order` feature is on somewhere in the build).
fn sorted(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    entries
}

/// Semantic equality: numbers compare by value, everything else structurally.
pub fn equal(a: &Value, b: &Value) -> bool {
    compare(a, b) == Ordering::Equal
}

/// Renders a value the way SMD's `value.ToString` does, for conflict paths like
/// `[name="nginx"]` or `[=5]`.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => render_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", render(v)))
            .collect(),
    }
}

fn render_number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        // Go's %v on a float64 is %g with the shortest digits: an exponent once the
        // decimal exponent is below -4 or at least 6 (1e+06, 1.5e-05).
        let f = n.as_f64().unwrap_or(0.0);
        if f != 0.0 && (f.abs() >= 1e6 || f.abs() < 1e-4) {
            return go_exponent(&format!("{f:e}"));
        }
        return format!("{f}");
    }
    n.to_string()
}

/// Go's `strconv.Quote` for the characters Kubernetes names and values contain.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Serializes a value as Go's `encoding/json` (and json-iterator in its standard-library
/// compatible mode) would: HTML-sensitive characters escaped, map keys sorted.
pub fn to_go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_f64() => out.push_str(&go_json_float(n.as_f64().unwrap_or(0.0))),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in sorted(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(k, out);
                out.push(':');
                write_go_json(item, out);
            }
            out.push('}');
        }
    }
}

/// A float as Go's JSON encoders write it: plain decimal notation between 1e-6 and 1e21,
/// exponent notation (`1e-07`) outside.
fn go_json_float(f: f64) -> String {
    if f == 0.0 || (1e-6..1e21).contains(&f.abs()) {
        return format!("{f}");
    }
    go_exponent(&format!("{f:e}"))
}

/// Rewrites Rust's `1.5e-7` as Go's `1.5e-07`.
fn go_exponent(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) if e.starts_with('-') => format!("{m}e-{:0>2}", &e[1..]),
        Some((m, e)) => format!("{m}e+{e:0>2}"),
        None => s.to_string(),
    }
}

/// A JSON string literal with Go's escaping rules.
pub fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_sort_before_strings_and_compare_across_int_and_float() {
        assert_eq!(compare(&json!(2), &json!(1.5)), Ordering::Greater);
        assert_eq!(compare(&json!(1), &json!(1.0)), Ordering::Equal);
        assert_eq!(compare(&json!(100), &json!("1")), Ordering::Less);
        assert_eq!(compare(&json!("b"), &json!(true)), Ordering::Less);
        assert_eq!(compare(&json!(null), &json!({})), Ordering::Greater);
        assert!(equal(&json!([1, "a"]), &json!([1.0, "a"])));
        assert!(!equal(&json!([1, "a"]), &json!([1, "a", 2])));
    }

    #[test]
    fn render_matches_go_formatting() {
        assert_eq!(render(&json!("nginx")), "\"nginx\"");
        assert_eq!(render(&json!("a\"b")), "\"a\\\"b\"");
        assert_eq!(render(&json!(80)), "80");
        assert_eq!(render(&json!(1.5)), "1.5");
        assert_eq!(render(&json!(123456.0)), "123456");
        assert_eq!(render(&json!(1e6)), "1e+06");
        assert_eq!(render(&json!(1.5e-5)), "1.5e-05");
        assert_eq!(render(&json!(true)), "true");
        assert_eq!(render(&json!(null)), "null");
    }

    #[test]
    fn go_json_writes_floats_like_go() {
        assert_eq!(
            to_go_json(&json!([1e6, 1.5, 1e-7, 2e21])),
            "[1000000,1.5,1e-07,2e+21]"
        );
    }

    #[test]
    fn go_json_escapes_html_characters() {
        assert_eq!(
            to_go_json(&json!({"b": "<&>", "a": 1})),
            r#"{"a":1,"b":"\u003c\u0026\u003e"}"#
        );
    }
}
