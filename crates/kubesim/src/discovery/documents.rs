//! The discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`.
//!
//! These are the legacy (unaggregated) documents. client-go asks for aggregated discovery
//! first (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…,
//! application/json`) and falls back to these when the response's content type is plain
//! `application/json`, which is what kubesim answers.

use super::catalog::{Catalog, RESOURCE_VERBS, ResourceInfo};
use serde_json::{Value, json};

/// `/version` for `git_version` like `v1.35.2`.
pub fn version(git_version: &str) -> Value {
    let trimmed = git_version.trim_start_matches('v');
    let mut parts = trimmed.split('.');
    let major = parts.next().unwrap_or("1").to_string();
    let minor: String = parts
        .next()
        .unwrap_or("0")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let min_compat = minor
        .parse::<u32>()
        .map(|m| m.saturating_sub(1).to_string())
        .unwrap_or_else(|_| minor.clone());
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": min_compat,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": vs, "preferredVersion": preferred})
}

/// `/apis`: every named group (the core group is under `/api`).
pub fn group_list(catalog: &Catalog) -> Value {
    let groups: Vec<Value> = catalog
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| group_entry(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(catalog: &Catalog, group: &str) -> Option<Value> {
    let versions = catalog.versions(group)?;
    let mut doc = group_entry(group, versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

fn subresource_entry(r: &ResourceInfo, sub: &str) -> Value {
    let name = format!("{}/{sub}", r.plural);
    match sub {
        "scale" => json!({
            "name": name, "singularName": "", "namespaced": r.namespaced,
            "group": "autoscaling", "version": "v1", "kind": "Scale",
            "verbs": ["get", "patch", "update"],
        }),
        "log" => json!({
            "name": name, "singularName": "", "namespaced": r.namespaced,
            "kind": r.kind, "verbs": ["get"],
        }),
        "finalize" => json!({
            "name": name, "singularName": "", "namespaced": r.namespaced,
            "kind": r.kind, "verbs": ["update"],
        }),
        "token" => json!({
            "name": name, "singularName": "", "namespaced": r.namespaced,
            "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest",
            "verbs": ["create"],
        }),
        "eviction" => json!({
            "name": name, "singularName": "", "namespaced": r.namespaced,
            "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"],
        }),
        _ => json!({
            "name": name, "singularName": "", "namespaced": r.namespaced,
            "kind": r.kind, "verbs": ["get", "patch", "update"],
        }),
    }
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    if !catalog.versions(group)?.iter().any(|v| v == version) {
        return None;
    }
    let mut resources = Vec::new();
    for r in catalog.in_group_version(group, version) {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": RESOURCE_VERBS,
        });
        aliases(&mut entry, r);
        resources.push(entry);
        for sub in &r.subresources {
            resources.push(subresource_entry(r, sub));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }))
}

/// The content type of aggregated discovery (`apidiscovery.k8s.io/v2`).
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for aggregated discovery v2.
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|t| {
            let t = t.replace(' ', "");
            t.contains("g=apidiscovery.k8s.io")
                && t.contains("v=v2;")
                && t.contains("as=APIGroupDiscoveryList")
                || t.ends_with("g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
        })
    })
}

/// A resource's `shortNames` and `categories` in its discovery entry (legacy or
/// aggregated), each only when it has some.
fn aliases(entry: &mut Value, r: &ResourceInfo) {
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
}

fn aggregated_subresource(r: &ResourceInfo, sub: &str) -> Value {
    let legacy = subresource_entry(r, sub);
    let kind = |g: &str, v: &str, k: &str| json!({"group": g, "version": v, "kind": k});
    let response_kind = match sub {
        "scale" => kind("autoscaling", "v1", "Scale"),
        "token" => kind("authentication.k8s.io", "v1", "TokenRequest"),
        "eviction" => kind("policy", "v1", "Eviction"),
        _ => kind(&r.group, &r.version, &r.kind),
    };
    json!({"subresource": sub, "responseKind": response_kind, "verbs": legacy["verbs"]})
}

/// One group of aggregated discovery (`name` empty for the core group).
fn aggregated_group(catalog: &Catalog, group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> =
        versions
            .iter()
            .map(|version| {
                let resources: Vec<Value> = catalog
                .in_group_version(group, version)
                .map(|r| {
                    let mut entry = json!({
                        "resource": r.plural,
                        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": r.singular,
                        "verbs": RESOURCE_VERBS,
                    });
                    aliases(&mut entry, r);
                    if !r.subresources.is_empty() {
                        entry["subresources"] = Value::Array(
                            r.subresources.iter().map(|s| aggregated_subresource(r, s)).collect(),
                        );
                    }
                    entry
                })
                .collect();
                json!({"version": version, "resources": resources, "freshness": "Current"})
            })
            .collect();
    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
}

/// Aggregated discovery for `/api` (`core`) or `/apis`.
pub fn aggregated(catalog: &Catalog, core: bool) -> Value {
    let items: Vec<Value> = catalog
        .groups()
        .iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, v)| aggregated_group(catalog, g, v))
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_aggregated_accept_header() {
        assert!(wants_aggregated(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_aggregated(Some("application/json, */*")));
        assert!(!wants_aggregated(None));
    }

    #[test]
    fn version_splits_major_and_minor() {
        let v = version("v1.35.2");
        assert_eq!(v["major"], "1");
        assert_eq!(v["minor"], "35");
        assert_eq!(v["gitVersion"], "v1.35.2");
    }
}
