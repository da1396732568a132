//! Reads a multi-document YAML stream (kustomize's output) into JSON values, remembering
//! where the `${…}` placeholders are and how each was written.
//!
//! Flux substitutes on the YAML *text* of kustomize's output and parses it again, so a
//! placeholder's type follows the text it becomes: `replicas: ${replicas}` with
//! `replicas: "3"` is the integer 3. Serde hides how a scalar was written, so this module
//! builds the tree from parser events itself and records every string scalar containing
//! `${` together with whether kustomize wrote it *plain* (unquoted). After substitution
//! a plain scalar is read again ([`resolve_substituted`]); one kustomize had to quote stays
//! a string, as it does in Flux. Mapping keys containing `${` are recorded too; they stay
//! strings.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Tag};

/// One step into a JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PathSegment {
    Key(String),
    Index(usize),
}

/// A string scalar containing `${`, by its path inside its document; for a mapping key,
/// the path ends with the key itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TemplatedScalar {
    pub(crate) path: Vec<PathSegment>,
    /// Written without quotes or block indicators, so its type follows its text.
    pub(crate) plain: bool,
    /// A mapping key rather than a value: substituted, but always a string.
    pub(crate) key: bool,
}

/// A non-empty document of the stream.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) value: Value,
    pub(crate) templated: Vec<TemplatedScalar>,
}

/// A malformed YAML stream, with the parser's position.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(pub(crate) String);

/// A collection being filled.
enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
    },
    Mapping {
        entries: Map<String, Value>,
        /// The key read, waiting for its value.
        key: Option<String>,
        anchor: usize,
    },
}

/// Parses every document of `text`; empty documents (`---` alone, or only comments) are
/// dropped, as kubectl drops them.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let mut documents = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut path: Vec<PathSegment> = Vec::new();
    let mut templated = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut root: Option<Value> = None;

    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError(e.to_string()))?;
        let at = || format!("line {}", span.start.line());
        match event {
            Event::DocumentStart(..) => {
                root = None;
                templated = Vec::new();
                anchors.clear();
            }
            Event::DocumentEnd => {
                if let Some(value) = root.take().filter(|v| !v.is_null()) {
                    documents.push(Document {
                        value,
                        templated: std::mem::take(&mut templated),
                    });
                }
            }
            Event::Alias(id) => {
                let value = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| YamlError(format!("unknown alias at {}", at())))?;
                place(&mut stack, &mut path, &mut root, value, &at)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let in_key = matches!(stack.last(), Some(Frame::Mapping { key: None, .. }));
                if in_key {
                    if let Some(Frame::Mapping { key, .. }) = stack.last_mut() {
                        path.push(PathSegment::Key(text.to_string()));
                        if text.contains("${") {
                            templated.push(TemplatedScalar {
                                path: path.clone(),
                                plain: false,
                                key: true,
                            });
                        }
                        *key = Some(text.into_owned());
                    }
                    continue;
                }
                let value = scalar(&text, style, tag.as_deref());
                if value.as_str().is_some_and(|s| s.contains("${")) {
                    let mut here = path.clone();
                    if let Some(Frame::Sequence { items, .. }) = stack.last() {
                        here.push(PathSegment::Index(items.len()));
                    }
                    templated.push(TemplatedScalar {
                        path: here,
                        plain: style == ScalarStyle::Plain && tag.is_none(),
                        key: false,
                    });
                }
                if anchor != 0 {
                    anchors.insert(anchor, value.clone());
                }
                place(&mut stack, &mut path, &mut root, value, &at)?;
            }
            Event::SequenceStart(_, anchor, _) => {
                enter(&stack, &mut path, &at)?;
                stack.push(Frame::Sequence {
                    items: Vec::new(),
                    anchor,
                });
            }
            Event::MappingStart(_, anchor, _) => {
                enter(&stack, &mut path, &at)?;
                stack.push(Frame::Mapping {
                    entries: Map::new(),
                    key: None,
                    anchor,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match stack.pop() {
                    Some(Frame::Sequence { items, anchor }) => (Value::Array(items), anchor),
                    Some(Frame::Mapping {
                        entries, anchor, ..
                    }) => (Value::Object(entries), anchor),
                    None => return Err(YamlError(format!("unbalanced collection at {}", at()))),
                };
                if matches!(stack.last(), Some(Frame::Sequence { .. })) {
                    path.pop();
                }
                if anchor != 0 {
                    anchors.insert(anchor, value.clone());
                }
                place(&mut stack, &mut path, &mut root, value, &at)?;
            }
            // Stream boundaries, comments and presentation-only events carry no value.
            _ => {}
        }
    }
    Ok(documents)
}

/// Before a nested collection starts: inside a sequence its index joins the path (a
/// mapping's key is already there); a collection as a mapping key is refused, since JSON
/// has none.
fn enter(
    stack: &[Frame],
    path: &mut Vec<PathSegment>,
    at: &dyn Fn() -> String,
) -> Result<(), YamlError> {
    match stack.last() {
        Some(Frame::Sequence { items, .. }) => path.push(PathSegment::Index(items.len())),
        Some(Frame::Mapping { key: None, .. }) => {
            return Err(YamlError(format!(
                "a mapping key that is not a scalar at {}",
                at()
            )));
        }
        _ => {}
    }
    Ok(())
}

/// Puts a finished value into its parent (or makes it the document's root).
fn place(
    stack: &mut [Frame],
    path: &mut Vec<PathSegment>,
    root: &mut Option<Value>,
    value: Value,
    at: &dyn Fn() -> String,
) -> Result<(), YamlError> {
    match stack.last_mut() {
        None => *root = Some(value),
        Some(Frame::Sequence { items, .. }) => items.push(value),
        Some(Frame::Mapping { entries, key, .. }) => {
            let Some(key) = key.take() else {
                return Err(YamlError(format!(
                    "a mapping key that is not a scalar at {}",
                    at()
                )));
            };
            path.pop();
            if entries.insert(key.clone(), value).is_some() {
                return Err(YamlError(format!("duplicate key {key:?} at {}", at())));
            }
        }
    }
    Ok(())
}

/// The JSON value of a scalar: quoted and block scalars and `!!str` are strings; a plain
/// scalar is typed by its text; other core tags type the text as the tag says.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    match tag.and_then(Tag::core_suffix) {
        Some("str") => Value::String(text.to_owned()),
        Some("int" | "float" | "bool" | "null") => resolve_plain(text),
        Some(_) => Value::String(text.to_owned()),
        None if tag.is_some() => Value::String(text.to_owned()),
        None if style == ScalarStyle::Plain => resolve_plain(text),
        None => Value::String(text.to_owned()),
    }
}

/// The value of a plain scalar whose text became `text` by substitution, as Flux's
/// re-parse would read it, except that it never becomes a collection: the result is a
/// scalar typed by [`resolve_plain`], or, when `text` is one whole quoted YAML scalar (Flux
/// users write `${quote}${port}${quote}` with `quote: '"'` to keep a number a string,
/// since kustomize drops the quotes of `"${port}"`), the string inside the quotes.
pub(crate) fn resolve_substituted(text: &str) -> Value {
    if text.starts_with(['"', '\'']) {
        return match parse_documents(text).as_deref() {
            Ok(
                [
                    Document {
                        value: Value::String(unquoted),
                        ..
                    },
                ],
            ) => Value::String(unquoted.clone()),
            _ => Value::String(text.to_owned()),
        };
    }
    resolve_plain(text)
}

/// Types an unquoted scalar as YAML 1.2's core schema does, which is how kustomize and
/// the API server (Go's yaml.v3) read it: null, booleans, integers (decimal, `0o`, `0x`)
/// and floats; everything else, including `.inf` and `.nan` that JSON cannot hold, is a
/// string.
pub(crate) fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(number) = integer(text) {
        return Value::Number(number);
    }
    if is_float(text)
        && let Some(number) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(number);
    }
    Value::String(text.to_owned())
}

fn integer(text: &str) -> Option<Number> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(hex) = digits.strip_prefix("0x") {
        (16, hex)
    } else if let Some(octal) = digits.strip_prefix("0o") {
        (8, octal)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i64::try_from(magnitude).ok()?;
        Some(Number::from(-value))
    } else {
        Some(Number::from(magnitude))
    }
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = digits(whole)
        && fraction.is_none_or(digits)
        && (!whole.is_empty() || fraction.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plain_scalars_are_typed_as_yaml_core() {
        assert_eq!(resolve_plain("3"), json!(3));
        assert_eq!(resolve_plain("-3"), json!(-3));
        assert_eq!(resolve_plain("0x1F"), json!(31));
        assert_eq!(resolve_plain("1.5"), json!(1.5));
        assert_eq!(resolve_plain("true"), json!(true));
        assert_eq!(resolve_plain(""), Value::Null);
        assert_eq!(
            resolve_plain("yes"),
            json!("yes"),
            "YAML 1.2: not a boolean"
        );
        assert_eq!(resolve_plain("1.2.3"), json!("1.2.3"));
        assert_eq!(resolve_plain(".inf"), json!(".inf"));
        assert_eq!(resolve_plain("web-3"), json!("web-3"));
    }

    #[test]
    fn substituted_text_is_read_as_a_scalar_never_as_structure() {
        assert_eq!(resolve_substituted("8080"), json!(8080));
        assert_eq!(resolve_substituted("\"8080\""), json!("8080"));
        assert_eq!(resolve_substituted("'true'"), json!("true"));
        assert_eq!(resolve_substituted("\"a\" b"), json!("\"a\" b"));
        assert_eq!(resolve_substituted("a: b"), json!("a: b"));
        assert_eq!(resolve_substituted("[1, 2]"), json!("[1, 2]"));
        assert_eq!(resolve_substituted("x #y"), json!("x #y"));
    }

    #[test]
    fn templated_scalars_remember_their_path_and_quoting() {
        let docs = parse_documents(
            "---\n---\na:\n  b: ${x}\n  c: \"${y}\"\n  d:\n  - 1\n  - ${z}\n  - {e: '${w}'}\n  f: |\n    ${v}\n---\nk: v\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2, "the empty document is dropped");
        let t = &docs[0].templated;
        let key = |k: &str| PathSegment::Key(k.into());
        assert_eq!(t.len(), 5);
        assert_eq!(t[0].path, [key("a"), key("b")]);
        assert!(t[0].plain);
        assert_eq!(t[1].path, [key("a"), key("c")]);
        assert!(!t[1].plain);
        assert_eq!(t[2].path, [key("a"), key("d"), PathSegment::Index(1)]);
        assert!(t[2].plain);
        assert_eq!(
            t[3].path,
            [key("a"), key("d"), PathSegment::Index(2), key("e")]
        );
        assert!(!t[3].plain);
        assert_eq!(t[4].path, [key("a"), key("f")]);
        assert!(!t[4].plain);
        assert_eq!(docs[0].value["a"]["d"], json!([1, "${z}", {"e": "${w}"}]));
        assert_eq!(docs[1].value, json!({"k": "v"}));
    }

    #[test]
    fn templated_keys_are_recorded_before_their_values() {
        let docs = parse_documents("data:\n  ${k}.conf: ${v}\n").unwrap();
        let key = |k: &str| PathSegment::Key(k.into());
        let t = &docs[0].templated;
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].path, [key("data"), key("${k}.conf")]);
        assert!(t[0].key);
        assert_eq!(t[1].path, [key("data"), key("${k}.conf")]);
        assert!(!t[1].key && t[1].plain);
    }

    #[test]
    fn anchors_and_tags() {
        let docs = parse_documents("a: &x {b: 1}\nc: *x\nd: !!str 12\ne: '12'\n").unwrap();
        assert_eq!(
            docs[0].value,
            json!({"a": {"b": 1}, "c": {"b": 1}, "d": "12", "e": "12"})
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert!(parse_documents("a: 1\na: 2\n").is_err());
    }
}
