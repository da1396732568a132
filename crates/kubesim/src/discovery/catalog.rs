//! The resource catalog of one cluster: which group/version/resources it serves.
//!
//! Built once per fleet from the Kubernetes `_definitions.json` (group, version and kind of
//! every built-in type, and their schemas for `/openapi/v3`) joined with the
//! [`super::builtin`] name table. Clusters share the built-in catalog through an
//! `Arc`; a cluster that registers custom resources gets its own copy (copy on write), so
//! idle clusters cost nothing here.

use super::builtin::{self, BuiltinNames};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The verbs of an ordinary resource, as discovery lists them.
pub const RESOURCE_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    #[error(
        "the Kubernetes schema definitions are not at {0}: run `make tools` (or set FLOTILLA_KUBERNETES_DEFINITIONS)"
    )]
    Missing(PathBuf),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{0} has no `$defs` object")]
    Shape(PathBuf),
}

/// Where the definitions are by default: `FLOTILLA_KUBERNETES_DEFINITIONS`, else
/// `$FLOTILLA_TOOLS_DIR` (or `~/.cache/flotilla/tools`)`/schemas/kubernetes-v1.35.0/_definitions.json`,
/// the place `make tools` installs them.
pub fn default_definitions_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FLOTILLA_KUBERNETES_DEFINITIONS").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    let tools = std::env::var_os("FLOTILLA_TOOLS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/flotilla/tools")
        });
    tools.join("schemas/kubernetes-v1.35.0/_definitions.json")
}

/// The parsed `$defs` of `_definitions.json`.
#[derive(Debug)]
pub struct Definitions {
    pub defs: Map<String, Value>,
}

impl Definitions {
    pub fn load(path: &Path) -> Result<Self, DefinitionsError> {
        if !path.is_file() {
            return Err(DefinitionsError::Missing(path.to_path_buf()));
        }
        let text = std::fs::read(path).map_err(|source| DefinitionsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut doc: Value =
            serde_json::from_slice(&text).map_err(|source| DefinitionsError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        match doc.get_mut("$defs").map(Value::take) {
            Some(Value::Object(defs)) => Ok(Definitions { defs }),
            _ => Err(DefinitionsError::Shape(path.to_path_buf())),
        }
    }

    /// `(definition name, group, version, kind)` for every type that declares a GVK.
    fn gvks(&self) -> impl Iterator<Item = (&str, &str, &str, &str)> {
        self.defs.iter().flat_map(|(name, def)| {
            def.get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(move |gvk| {
                    Some((
                        name.as_str(),
                        gvk.get("group")?.as_str()?,
                        gvk.get("version")?.as_str()?,
                        gvk.get("kind")?.as_str()?,
                    ))
                })
        })
    }
}

/// One served resource in one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The resource name, e.g. `deployments`.
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// e.g. `status`, `scale`.
    pub subresources: Vec<String>,
    /// The schema's name in the definitions (or components), for `/openapi/v3`.
    pub definition: Option<String>,
    /// False for custom resources.
    pub builtin: bool,
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn group_version(&self) -> String {
        self.api_version()
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s == name)
    }

    /// Whether writes set and bump `metadata.generation`: custom resources and the built-in
    /// kinds with a spec whose strategy tracks generation.
    pub fn tracks_generation(&self) -> bool {
        !self.builtin
            || !matches!(
                self.kind.as_str(),
                "ConfigMap"
                    | "Secret"
                    | "ServiceAccount"
                    | "Event"
                    | "Namespace"
                    | "Endpoints"
                    | "Role"
                    | "RoleBinding"
                    | "ClusterRole"
                    | "ClusterRoleBinding"
                    | "Lease"
                    | "Node"
                    | "Pod"
                    | "Service"
                    | "PersistentVolumeClaim"
                    | "PersistentVolume"
            )
    }
}

/// Kubernetes version priority: GA above beta above alpha, higher numbers first.
fn version_rank(v: &str) -> (u8, u32, u32) {
    let rest = v.trim_start_matches('v');
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major: u32 = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor) = if let Some(n) = tail.strip_prefix("beta") {
        (1, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (0, n.parse().unwrap_or(0))
    } else {
        (2, 0)
    };
    (stage, major, minor)
}

/// Sorts versions in the order discovery lists them: preferred first.
pub fn sort_versions(versions: &mut [String]) {
    versions.sort_by_key(|v| std::cmp::Reverse(version_rank(v)));
}

/// Every resource one cluster serves.
#[derive(Debug, Clone)]
pub struct Catalog {
    resources: Vec<Arc<ResourceInfo>>,
    /// group → versions, preferred first, in the order groups first appeared.
    groups: Vec<(String, Vec<String>)>,
}

impl Catalog {
    /// The built-in catalog: every table entry for which the definitions have a GA version.
    pub fn builtin(defs: &Definitions) -> Self {
        let table = builtin::builtins();
        let mut found: BTreeMap<(&str, &str), Vec<(String, String)>> = BTreeMap::new();
        for (def, group, version, kind) in defs.gvks() {
            if version.contains("alpha") || version.contains("beta") {
                continue;
            }
            found
                .entry((group, kind))
                .or_default()
                .push((version.to_string(), def.to_string()));
        }
        let mut resources = Vec::new();
        for names in &table {
            let Some(versions) = found.get(&(names.group, names.kind)) else {
                continue;
            };
            for (version, def) in versions {
                resources.push(Arc::new(from_names(names, version, def)));
            }
        }
        Catalog::from_resources(resources)
    }

    pub fn from_resources(resources: Vec<Arc<ResourceInfo>>) -> Self {
        let mut catalog = Catalog {
            resources: Vec::new(),
            groups: Vec::new(),
        };
        for r in resources {
            catalog.add(r);
        }
        catalog
    }

    /// Adds (or replaces) a resource in one version.
    pub fn add(&mut self, r: Arc<ResourceInfo>) {
        self.resources
            .retain(|x| !(x.group == r.group && x.version == r.version && x.plural == r.plural));
        match self.groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version.clone());
                    sort_versions(versions);
                }
            }
            None => self.groups.push((r.group.clone(), vec![r.version.clone()])),
        }
        self.resources.push(r);
    }

    /// Removes every version of `group`/`plural`, dropping groups and versions left empty.
    pub fn remove(&mut self, group: &str, plural: &str) {
        self.resources
            .retain(|x| !(x.group == group && x.plural == plural));
        let resources = &self.resources;
        for (g, versions) in &mut self.groups {
            versions.retain(|v| resources.iter().any(|r| &r.group == g && &r.version == v));
        }
        self.groups.retain(|(_, v)| !v.is_empty());
    }

    pub fn resources(&self) -> &[Arc<ResourceInfo>] {
        &self.resources
    }

    /// Groups (core `""` included) with their versions, preferred first.
    pub fn groups(&self) -> &[(String, Vec<String>)] {
        &self.groups
    }

    pub fn versions(&self, group: &str) -> Option<&[String]> {
        self.groups
            .iter()
            .find(|(g, _)| g == group)
            .map(|(_, v)| v.as_slice())
    }

    /// Resources of one group/version, in table order.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ResourceInfo>> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.group == group && r.version == version)
    }

    /// Looks a resource up by its path segment (the plural name).
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<ResourceInfo>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// Looks a resource up by kind, in any version of the group.
    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&Arc<ResourceInfo>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.kind == kind)
    }
}

fn from_names(names: &BuiltinNames, version: &str, def: &str) -> ResourceInfo {
    ResourceInfo {
        group: names.group.to_string(),
        version: version.to_string(),
        kind: names.kind.to_string(),
        plural: names.plural.to_string(),
        singular: names.kind.to_ascii_lowercase(),
        namespaced: names.namespaced,
        short_names: names.short_names.iter().map(|s| s.to_string()).collect(),
        categories: names.categories.iter().map(|s| s.to_string()).collect(),
        subresources: names.subresources.iter().map(|s| s.to_string()).collect(),
        definition: Some(def.to_string()),
        builtin: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_preferred_first() {
        let mut v: Vec<String> = ["v1beta1", "v1", "v2", "v1alpha1", "v2beta2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sort_versions(&mut v);
        assert_eq!(v, ["v2", "v1", "v2beta2", "v1beta1", "v1alpha1"]);
    }
}
