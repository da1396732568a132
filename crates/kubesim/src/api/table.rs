//! Table responses (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), what
//! `kubectl get` asks for: a `meta.k8s.io/v1` `Table` with `columnDefinitions` and one row
//! of `cells` per object, for gets, lists and watch events.
//!
//! Built-in kinds use the real server's printer columns ([`super::columns`]); custom
//! resources their CRD version's `additionalPrinterColumns` (a JSONPath subset, see
//! [`crate::jsonpath`]), or `Age` when it declares none. Each row carries the object as
//! `includeObject` asks: `Metadata` (the default, a `PartialObjectMetadata`), `Object` or
//! `None`.

use super::columns;
use super::{Ctx, partial};
use crate::discovery::ResourceInfo;
use crate::store::{ObjectKey, StoreState};
use serde_json::{Value, json};

/// Whether the Accept header prefers a Table (its first media type kubesim can serve).
pub fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .map(|t| t.replace(' ', ""))
            .find(|t| t.starts_with("application/json") || t.starts_with("*/*"))
            .is_some_and(|t| t.contains("as=Table") && t.contains("g=meta.k8s.io"))
    })
}

/// How a table's cells are computed.
#[derive(Debug)]
enum Source {
    Builtin(&'static [columns::Column]),
    /// JSONPath and type per column after Name.
    Custom(Vec<(String, String)>),
}

/// The columns of one resource and how to fill them.
#[derive(Debug)]
pub struct TableSpec {
    definitions: Vec<Value>,
    source: Source,
    include: Include,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Include {
    None,
    Metadata,
    Object,
}

impl TableSpec {
    /// The table of the request's resource (CRD columns read from `store`).
    pub fn new(ctx: &Ctx<'_>, store: &StoreState) -> Self {
        let include = match ctx.query.include_object.as_deref() {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        };
        let info = &ctx.info;
        if info.builtin {
            let cols = columns::columns(&info.group, &info.kind);
            return TableSpec {
                definitions: cols.iter().map(columns::Column::definition).collect(),
                source: Source::Builtin(cols),
                include,
            };
        }
        let crd = store.get(&ObjectKey::new(
            crate::crd::CRD_GROUP,
            crate::crd::CRD_PLURAL,
            "",
            &format!("{}.{}", info.plural, info.group),
        ));
        let declared = crd
            .and_then(|c| c.pointer("/spec/versions"))
            .and_then(Value::as_array)
            .and_then(|vs| vs.iter().find(|v| v["name"] == info.version.as_str()))
            .and_then(|v| v.get("additionalPrinterColumns"))
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .cloned()
            .unwrap_or_else(|| {
                vec![json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                    "description": "CreationTimestamp is a timestamp representing the server time when this object was created."})]
            });
        let mut definitions = vec![columns::NAME.definition()];
        let mut paths = Vec::new();
        for c in &declared {
            definitions.push(json!({
                "name": c["name"], "type": c["type"],
                "format": c.get("format").cloned().unwrap_or(json!("")),
                "description": c.get("description").cloned().unwrap_or(json!("")),
                "priority": c.get("priority").cloned().unwrap_or(json!(0)),
            }));
            paths.push((
                c["jsonPath"].as_str().unwrap_or("").to_string(),
                c["type"].as_str().unwrap_or("string").to_string(),
            ));
        }
        TableSpec {
            definitions,
            source: Source::Custom(paths),
            include,
        }
    }

    /// The row of one stored object.
    pub fn row(
        &self,
        info: &ResourceInfo,
        object: &Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Value {
        let cells = match &self.source {
            Source::Builtin(cols) => cols.iter().map(|c| c.cell(object, now)).collect(),
            Source::Custom(paths) => {
                let mut cells = vec![
                    object
                        .pointer("/metadata/name")
                        .cloned()
                        .unwrap_or(Value::Null),
                ];
                cells.extend(paths.iter().map(|(path, kind)| {
                    match crate::jsonpath::select(object, path) {
                        // The apiextensions table convertor prints dates as ages.
                        v if kind == "date" => json!(columns::age(v, now)),
                        Some(Value::String(s)) if kind == "integer" => {
                            s.parse::<i64>().map_or(Value::Null, |n| json!(n))
                        }
                        Some(v) => v.clone(),
                        None => Value::Null,
                    }
                }));
                cells
            }
        };
        match self.include {
            Include::None => json!({"cells": cells}),
            Include::Metadata => json!({"cells": cells, "object": partial::partial(object)}),
            Include::Object => {
                let mut o = object.clone();
                if let Some(m) = o.as_object_mut() {
                    m.insert("apiVersion".into(), json!(info.api_version()));
                    m.insert("kind".into(), json!(info.kind));
                }
                json!({"cells": cells, "object": o})
            }
        }
    }

    /// A `Table` of `rows`, with list metadata (`resourceVersion`, `continue` …).
    pub fn table(&self, rows: Vec<Value>, metadata: Value) -> Value {
        json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "columnDefinitions": self.definitions,
            "rows": rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_accept_header_prefers_a_table() {
        assert!(wants_table(Some(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        )));
        assert!(!wants_table(Some("application/json")));
        assert!(!wants_table(Some(
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
        )));
        assert!(!wants_table(None));
    }
}
