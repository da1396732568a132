//! `/openapi/v3`: the index and one OpenAPI 3.0 document per group/version.
//!
//! kubectl and Helm download these before every write. What they look at:
//! - the index `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=…"}}}`;
//! - in a group/version document, each PATCH operation's `x-kubernetes-group-version-kind`
//!   and whether its `parameters` include `fieldValidation` (cli-runtime's query-param
//!   verifier): when they do, kubectl sends `fieldValidation=Strict` and leaves validation
//!   to the server instead of failing with "failed to download openapi";
//! - `components.schemas`, for `kubectl explain` and strategic-merge metadata.
//!
//! Schemas come from `_definitions.json` (JSON Schema 2020-12): `$ref`s are rewritten to
//! `#/components/schemas/…` and nullable type arrays (`["string","null"]`) collapse to the
//! single OpenAPI 3.0 type. Each document carries only the schemas its paths reach.

use super::catalog::{Catalog, Definitions, ResourceInfo};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// The index path segment for a group/version: `api/v1` or `apis/<g>/<v>`.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A stable hash (FNV-1a) of what a group/version document contains, so clients that cache
/// documents by URL refetch when the served resources change.
fn doc_hash(catalog: &Catalog, group: &str, version: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(group);
    feed(version);
    for r in catalog.in_group_version(group, version) {
        feed(&r.plural);
        feed(&r.kind);
        feed(r.definition.as_deref().unwrap_or(""));
    }
    format!("{h:016X}")
}

/// `/openapi/v3`.
pub fn index(catalog: &Catalog) -> Value {
    let mut paths = Map::new();
    for (group, versions) in catalog.groups() {
        for version in versions {
            let p = gv_path(group, version);
            let url = format!("/openapi/v3/{p}?hash={}", doc_hash(catalog, group, version));
            paths.insert(p, json!({"serverRelativeURL": url}));
        }
    }
    // The real index also lists the version-independent paths clients may probe.
    paths.insert(
        "version".to_string(),
        json!({"serverRelativeURL": "/openapi/v3/version?hash=0"}),
    );
    json!({"paths": paths})
}

/// Rewrites a definitions-file schema into OpenAPI 3.0 form, collecting referenced names.
fn convert(schema: &Value, refs: &mut BTreeSet<String>) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        let name = r.trim_start_matches("#/$defs/").to_string();
                        out.insert(
                            "$ref".into(),
                            Value::String(format!("#/components/schemas/{name}")),
                        );
                        refs.insert(name);
                    }
                    ("type", Value::Array(types)) => {
                        let non_null: Vec<&Value> = types
                            .iter()
                            .filter(|t| t.as_str() != Some("null"))
                            .collect();
                        if let [single] = non_null.as_slice() {
                            out.insert("type".into(), (*single).clone());
                        }
                        // Several non-null types (int-or-string) mean "no single type".
                    }
                    _ => {
                        out.insert(k.clone(), convert(v, refs));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| convert(v, refs)).collect()),
        other => other.clone(),
    }
}

fn query_param(name: &str, ty: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": ty, "uniqueItems": true}})
}

fn operation_id(verb: &str, r: &ResourceInfo, namespaced: bool, suffix: &str) -> String {
    let group: String = if r.group.is_empty() {
        "Core".to_string()
    } else {
        r.group
            .split('.')
            .next()
            .unwrap_or("")
            .split('-')
            .map(capitalize)
            .collect()
    };
    let ns = if namespaced { "Namespaced" } else { "" };
    format!(
        "{verb}{group}{}{ns}{}{suffix}",
        capitalize(&r.version),
        r.kind
    )
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn schema_ref(def: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{def}")})
}

fn ok_response(def: &str) -> Value {
    json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref(def)}}}})
}

/// The operations on one object path (`…/{name}` or `…/{name}/<subresource>`).
fn object_operations(r: &ResourceInfo, def: &str, suffix: &str) -> Value {
    let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let write_params = vec![
        query_param("dryRun", "string"),
        query_param("fieldManager", "string"),
        query_param("fieldValidation", "string"),
    ];
    let mut patch_params = write_params.clone();
    patch_params.push(query_param("force", "boolean"));
    // kubectl's client-side apply sends a strategic merge patch exactly when the PATCH
    // operation lists that media type, so custom resources (which do not take it) omit it.
    let patch_body = {
        let patch = schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.Patch");
        let mut content = json!({
            "application/apply-patch+yaml": {"schema": patch},
            "application/json-patch+json": {"schema": patch},
            "application/merge-patch+json": {"schema": patch},
        });
        if r.builtin {
            content["application/strategic-merge-patch+json"] = json!({"schema": patch});
        }
        json!({"content": content, "required": true})
    };
    let ns = r.namespaced;
    let mut ops = json!({
        "get": {
            "operationId": operation_id("read", r, ns, suffix),
            "responses": ok_response(def),
            "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": gvk,
        },
        "put": {
            "operationId": operation_id("replace", r, ns, suffix),
            "parameters": write_params,
            "requestBody": {"content": {"*/*": {"schema": schema_ref(def)}}, "required": true},
            "responses": ok_response(def),
            "x-kubernetes-action": "put",
            "x-kubernetes-group-version-kind": gvk,
        },
        "patch": {
            "operationId": operation_id("patch", r, ns, suffix),
            "parameters": patch_params,
            "requestBody": patch_body,
            "responses": ok_response(def),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        },
    });
    if suffix.is_empty() {
        ops["delete"] = json!({
            "operationId": operation_id("delete", r, ns, ""),
            "parameters": [query_param("dryRun", "string"), query_param("propagationPolicy", "string")],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "delete",
            "x-kubernetes-group-version-kind": gvk,
        });
    }
    ops
}

fn collection_operations(r: &ResourceInfo, def: &str, namespaced_path: bool) -> Value {
    let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let list_def = format!("{def}List");
    let mut ops = json!({
        "get": {
            "operationId": operation_id("list", r, namespaced_path, ""),
            "parameters": [
                query_param("labelSelector", "string"), query_param("fieldSelector", "string"),
                query_param("limit", "integer"), query_param("continue", "string"),
                query_param("resourceVersion", "string"), query_param("watch", "boolean"),
                query_param("sendInitialEvents", "boolean"),
                query_param("allowWatchBookmarks", "boolean"),
                query_param("timeoutSeconds", "integer"),
            ],
            "responses": ok_response(&list_def),
            "x-kubernetes-action": "list",
            "x-kubernetes-group-version-kind": gvk,
        },
    });
    if namespaced_path || !r.namespaced {
        ops["post"] = json!({
            "operationId": operation_id("create", r, namespaced_path, ""),
            "parameters": [
                query_param("dryRun", "string"), query_param("fieldManager", "string"),
                query_param("fieldValidation", "string"),
            ],
            "requestBody": {"content": {"*/*": {"schema": schema_ref(def)}}, "required": true},
            "responses": ok_response(def),
            "x-kubernetes-action": "post",
            "x-kubernetes-group-version-kind": gvk,
        });
        ops["delete"] = json!({
            "operationId": operation_id("deleteCollection", r, namespaced_path, ""),
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "deletecollection",
            "x-kubernetes-group-version-kind": gvk,
        });
    }
    ops
}

/// Schemas of custom resources, which are not in the definitions file.
pub type ExtraSchemas<'a> = &'a Map<String, Value>;

/// The document for one group/version, or `None` if the cluster does not serve it.
pub fn group_version_document(
    catalog: &Catalog,
    defs: &Definitions,
    extra: ExtraSchemas<'_>,
    group: &str,
    version: &str,
    git_version: &str,
) -> Option<Value> {
    catalog.versions(group)?.iter().find(|v| *v == version)?;
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = Map::new();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    wanted.insert("io.k8s.apimachinery.pkg.apis.meta.v1.Patch".to_string());
    for r in catalog.in_group_version(group, version) {
        let Some(def) = r.definition.as_deref() else {
            continue;
        };
        wanted.insert(def.to_string());
        wanted.insert(format!("{def}List"));
        let base = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{prefix}/{}", r.plural)
        };
        paths.insert(base.clone(), collection_operations(r, def, r.namespaced));
        if r.namespaced {
            paths.insert(
                format!("{prefix}/{}", r.plural),
                collection_operations(r, def, false),
            );
        }
        paths.insert(format!("{base}/{{name}}"), object_operations(r, def, ""));
        if r.has_subresource("status") {
            paths.insert(
                format!("{base}/{{name}}/status"),
                object_operations(r, def, "Status"),
            );
        }
    }
    // Pull in every schema reachable from the wanted ones.
    let mut schemas = Map::new();
    let mut queue: Vec<String> = wanted.into_iter().collect();
    while let Some(name) = queue.pop() {
        if schemas.contains_key(&name) {
            continue;
        }
        let Some(source) = defs.defs.get(&name).or_else(|| extra.get(&name)) else {
            continue;
        };
        let mut refs = BTreeSet::new();
        let converted = convert(source, &mut refs);
        schemas.insert(name, converted);
        queue.extend(refs.into_iter().filter(|r| !schemas.contains_key(r)));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": git_version},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convert_rewrites_refs_and_nullable_types() {
        let mut refs = BTreeSet::new();
        let s = json!({"properties": {
            "metadata": {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "data": {"type": ["object", "null"]},
            "port": {"type": ["integer", "string", "null"]},
        }});
        let c = convert(&s, &mut refs);
        assert_eq!(
            c["properties"]["metadata"]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert_eq!(c["properties"]["data"]["type"], "object");
        assert!(c["properties"]["port"].get("type").is_none());
        assert!(refs.contains("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    }
}
