//! Custom resources: what a cluster serves because of the CustomResourceDefinitions in its
//! store.
//!
//! After every write to `customresourcedefinitions` the cluster recomputes its custom
//! types from all CRDs it holds ([`CustomTypes::from_crds`]): catalog entries (discovery,
//! routing), OpenAPI schemas (for `/openapi/v3`) and merge schemas (for server-side apply).
//! Like the apiextensions controller it then marks new CRDs `NamesAccepted` and
//! `Established`, and removes the objects of resources that are no longer served.
//! Custom resources written are pruned and defaulted ([`crate::structural`]) and validated
//! ([`crate::schema_validation`]) against the OpenAPI schemas kept here.

use crate::discovery::{Catalog, ResourceInfo};
use crate::ssa::{Schema, TypeRef};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The group and plural of the CRD resource itself.
pub const CRD_GROUP: &str = "apiextensions.k8s.io";
pub const CRD_PLURAL: &str = "customresourcedefinitions";

/// Everything one cluster's CRDs define.
#[derive(Debug, Default)]
pub struct CustomTypes {
    /// OpenAPI schemas by definition name (`com.example.v1.Widget`, `…List`).
    pub openapi: Map<String, Value>,
    /// Merge schemas by (group, version, kind).
    pub merge: HashMap<(String, String, String), (Schema, TypeRef)>,
    /// The served (group, plural) pairs.
    pub served: Vec<(String, String)>,
}

fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl CustomTypes {
    /// Builds the custom types of `crds` on top of the built-in catalog.
    pub fn from_crds<'a>(
        builtin: &Catalog,
        crds: impl Iterator<Item = &'a Value>,
    ) -> (Catalog, CustomTypes) {
        let mut catalog = builtin.clone();
        let mut custom = CustomTypes::default();
        for crd in crds {
            let s = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or("");
            let (group, plural, kind) = (
                s("/spec/group"),
                s("/spec/names/plural"),
                s("/spec/names/kind"),
            );
            if group.is_empty() || plural.is_empty() || kind.is_empty() {
                continue;
            }
            let singular = match s("/spec/names/singular") {
                "" => kind.to_ascii_lowercase(),
                x => x.to_string(),
            };
            let namespaced = s("/spec/scope") != "Cluster";
            let versions = crd
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for v in versions
                .iter()
                .filter(|v| v.get("served") != Some(&json!(false)))
            {
                let Some(version) = v.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let def = definition_name(group, version, kind);
                let mut subresources = Vec::new();
                if let Some(sub) = v.get("subresources").and_then(Value::as_object) {
                    subresources.extend(sub.keys().cloned());
                }
                let schema = v
                    .pointer("/schema/openAPIV3Schema")
                    .cloned()
                    .unwrap_or_else(
                        || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                    );
                let mut openapi = schema.clone();
                if let Some(o) = openapi.as_object_mut() {
                    o.insert(
                        "x-kubernetes-group-version-kind".into(),
                        json!([{"group": group, "version": version, "kind": kind}]),
                    );
                    let props = o.entry("properties").or_insert_with(|| json!({}));
                    if let Some(p) = props.as_object_mut() {
                        p.insert(
                            "metadata".into(),
                            json!({"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}),
                        );
                    }
                }
                custom.openapi.insert(def.clone(), openapi);
                custom.openapi.insert(
                    format!("{def}List"),
                    json!({
                        "type": "object",
                        "properties": {
                            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                            "items": {"type": "array", "items": {"$ref": format!("#/$defs/{def}")}},
                            "metadata": {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"},
                        },
                        "x-kubernetes-group-version-kind": [{"group": group, "version": version, "kind": format!("{kind}List")}],
                    }),
                );
                if let Ok(merge) = crate::ssa::openapi::from_crd(&schema) {
                    custom.merge.insert(
                        (group.to_string(), version.to_string(), kind.to_string()),
                        merge,
                    );
                }
                catalog.add(Arc::new(ResourceInfo {
                    group: group.to_string(),
                    version: version.to_string(),
                    kind: kind.to_string(),
                    plural: plural.to_string(),
                    singular: singular.clone(),
                    namespaced,
                    short_names: strings(crd.pointer("/spec/names/shortNames")),
                    categories: strings(crd.pointer("/spec/names/categories")),
                    subresources,
                    definition: Some(def),
                    builtin: false,
                }));
            }
            custom.served.push((group.to_string(), plural.to_string()));
        }
        (catalog, custom)
    }
}

/// The status the apiextensions controller gives an accepted CRD, or `None` if `crd`
/// already has it.
pub fn established_status(crd: &Value, now: &str) -> Option<Value> {
    let established = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter().any(|c| {
                c.get("type") == Some(&json!("Established"))
                    && c.get("status") == Some(&json!("True"))
            })
        });
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let accepted_same = crd.pointer("/status/acceptedNames") == Some(&names);
    if established && accepted_same {
        return None;
    }
    let storage: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage") == Some(&json!(true)))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let condition = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    Some(json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": names,
        "storedVersions": storage,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_names_reverse_the_group() {
        assert_eq!(
            definition_name("flotilla.dev", "v1alpha1", "Fleet"),
            "dev.flotilla.v1alpha1.Fleet"
        );
    }

    #[test]
    fn established_once() {
        let mut crd = json!({"spec": {"names": {"kind": "W", "plural": "ws"},
            "versions": [{"name": "v1", "served": true, "storage": true}]}});
        let status = established_status(&crd, "t").unwrap();
        assert_eq!(status["storedVersions"], json!(["v1"]));
        crd["status"] = status;
        assert!(established_status(&crd, "t").is_none());
    }
}
