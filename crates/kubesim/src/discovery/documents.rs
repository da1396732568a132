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
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_splits_major_and_minor() {
        let v = version("v1.35.2");
        assert_eq!(v["major"], "1");
        assert_eq!(v["minor"], "35");
        assert_eq!(v["gitVersion"], "v1.35.2");
    }
}
