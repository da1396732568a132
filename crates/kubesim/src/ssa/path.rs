//! Paths into an object, as structured-merge-diff names them.
//!
//! A path is a sequence of [`PathElement`]s. Each element is one of:
//! - a field of a struct or a key of a map (`f:replicas`, printed `.replicas`);
//! - the key fields of an item in an associative list (`k:{"name":"nginx"}`, printed
//!   `[name="nginx"]`);
//! - the value of an item in a set-like list (`v:"finalizer.example.com"`, printed `[=…]`);
//! - an index, for the rare list that is neither atomic nor associative (`i:0`, printed `[0]`).
//!
//! Elements are totally ordered — fields, then keys, then values, then indices — because
//! the `fieldsV1` encoding writes them in that order.

use super::value;
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

/// One step of a [`Path`].
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A struct field or map key.
    Field(String),
    /// An associative list item, identified by its key fields (sorted by name).
    Key(Vec<(String, Value)>),
    /// A set-list item, identified by its whole value.
    Value(Value),
    /// A positional list item.
    Index(usize),
}

impl PathElement {
    /// Builds a key element, sorting the key fields by name as SMD does.
    pub fn key(mut fields: Vec<(String, Value)>) -> Self {
        fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        PathElement::Key(fields)
    }

    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.as_bytes().cmp(b.as_bytes()),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
                    let c = an
                        .as_bytes()
                        .cmp(bn.as_bytes())
                        .then_with(|| value::compare(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => value::compare(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl fmt::Display for PathElement {
    /// The API server's rendering, used in conflict causes (`field: ".spec.replicas"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value::render(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value::render(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the root of an object.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// A path of struct fields, e.g. `Path::fields(&["spec", "replicas"])`.
    pub fn fields(names: &[&str]) -> Self {
        Path(
            names
                .iter()
                .map(|n| PathElement::Field((*n).to_string()))
                .collect(),
        )
    }

    /// This path extended by one element.
    pub fn child(&self, pe: PathElement) -> Self {
        let mut v = self.0.clone();
        v.push(pe);
        Path(v)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_the_api_server() {
        let p = Path::fields(&["spec", "template", "spec", "containers"])
            .child(PathElement::key(vec![("name".into(), json!("nginx"))]))
            .child(PathElement::Field("image".into()));
        assert_eq!(
            p.to_string(),
            ".spec.template.spec.containers[name=\"nginx\"].image"
        );
        let port = PathElement::key(vec![
            ("protocol".into(), json!("TCP")),
            ("containerPort".into(), json!(80)),
        ]);
        assert_eq!(port.to_string(), "[containerPort=80,protocol=\"TCP\"]");
        assert_eq!(PathElement::Value(json!("a")).to_string(), "[=\"a\"]");
        assert_eq!(PathElement::Index(3).to_string(), "[3]");
    }

    #[test]
    fn orders_fields_before_keys_before_values_before_indices() {
        let mut v = [
            PathElement::Index(0),
            PathElement::Value(json!("x")),
            PathElement::key(vec![("name".into(), json!("a"))]),
            PathElement::Field("z".into()),
            PathElement::Field("a".into()),
        ];
        v.sort();
        let rendered: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(rendered, [".a", ".z", "[name=\"a\"]", "[=\"x\"]", "[0]"]);
    }
}
