//! The variables one cluster's substitution sees, layered as the API documents (later
//! layers win):
//!
//! 1. per-cluster variables from its Cluster API `Cluster` ([`ClusterInfo`]):
//!    `cluster_name`, `cluster_namespace`, `cluster_label_<key>`,
//!    `cluster_annotation_<key>` (keys lower-cased, other characters as `_`);
//! 2. `postBuild.substituteFrom`, in list order (a later ConfigMap or Secret wins);
//! 3. `postBuild.substitute`, whose values may themselves use the per-cluster variables
//!    (expanded per cluster, strictly, first).
//!
//! Values that came from a Secret are never printed: [`Variables`]' `Debug` shows their
//! names only, and no error of this crate carries a variable's value.

use std::collections::BTreeMap;
use std::fmt;

use flotilla_api::common::ValuesKind;
use flotilla_api::kustomization::is_variable_name;

use crate::template::{Template, TemplateError, Undefined};

/// The variables of one cluster, ready for [`crate::BuiltManifests::for_cluster`].
#[derive(Clone, Default)]
pub struct Variables {
    values: BTreeMap<String, String>,
    /// Names whose current value came from a Secret.
    secret: std::collections::BTreeSet<String>,
}

impl Variables {
    /// Plain variables, none of them secret (tests, `flotilla build`).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            values: pairs.into_iter().collect(),
            secret: Default::default(),
        }
    }

    /// The value of `name`, if defined.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every defined name, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    fn set(&mut self, name: String, value: String, secret: bool) {
        if secret {
            self.secret.insert(name.clone());
        } else {
            self.secret.remove(&name);
        }
        self.values.insert(name, value);
    }
}

impl fmt::Debug for Variables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.values {
            if self.secret.contains(name) {
                map.entry(name, &"<secret>");
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

/// What the per-cluster variables are made of: a Cluster API `Cluster`'s identity and
/// metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// A `Cluster` object without a name or namespace.
#[derive(Debug, thiserror::Error)]
#[error("Cluster object has no metadata.{0}")]
pub struct ClusterInfoError(&'static str);

impl ClusterInfo {
    /// Reads a `Cluster` object of any `cluster.x-k8s.io` version; only its metadata
    /// matters.
    pub fn from_object(cluster: &serde_json::Value) -> Result<Self, ClusterInfoError> {
        let metadata = &cluster["metadata"];
        let text = |field: &'static str| {
            metadata[field]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or(ClusterInfoError(field))
        };
        let strings = |field: &str| -> BTreeMap<String, String> {
            metadata[field]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Self {
            name: text("name")?,
            namespace: text("namespace")?,
            labels: strings("labels"),
            annotations: strings("annotations"),
        })
    }

    /// The per-cluster variables. Two keys that normalize to the same name (`a.b` and
    /// `a_b`) are both defined; the one that sorts last wins.
    pub fn variables(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert("cluster_name".to_owned(), self.name.clone());
        out.insert("cluster_namespace".to_owned(), self.namespace.clone());
        for (prefix, map) in [
            ("cluster_label_", &self.labels),
            ("cluster_annotation_", &self.annotations),
        ] {
            for (key, value) in map {
                out.insert(format!("{prefix}{}", normalize_key(key)), value.clone());
            }
        }
        out
    }
}

/// Lower-cased, every character other than an ASCII letter or digit as `_`.
fn normalize_key(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The data of one `substituteFrom` entry, fetched by the caller (this crate never talks
/// to a cluster). Secret data must already be decoded from base64.
#[derive(Clone, PartialEq, Eq)]
pub struct VariableSource {
    /// `ConfigMap` or `Secret`; Secret values are kept out of every message.
    pub kind: ValuesKind,
    /// Name of the object, for messages.
    pub name: String,
    /// Its keys and values.
    pub data: BTreeMap<String, String>,
}

impl fmt::Debug for VariableSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VariableSource")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a deployer's variables are unusable. Names keys and objects, never values.
#[derive(Debug, thiserror::Error)]
pub enum VariablesError {
    /// A `substitute` key or a `substituteFrom` data key that cannot be a variable.
    #[error(
        "{origin}: {name:?} is not a valid variable name (must match ^[_a-zA-Z][_a-zA-Z0-9]*$)"
    )]
    InvalidName {
        /// `postBuild.substitute` or `<Kind>/<name>`.
        origin: String,
        /// The offending key.
        name: String,
    },
    /// A `substitute` value with a malformed placeholder.
    #[error("postBuild.substitute.{name}: {source}")]
    Template {
        /// The variable whose value is malformed.
        name: String,
        /// What is wrong.
        source: TemplateError,
    },
    /// A `substitute` value using a variable the cluster does not define.
    #[error("postBuild.substitute.{name} on cluster {cluster}: {source}")]
    Undefined {
        /// The variable whose value could not be expanded.
        name: String,
        /// `<namespace>/<name>` of the cluster.
        cluster: String,
        /// The missing variable.
        source: Undefined,
    },
}

/// A deployer's `postBuild` inputs, validated once and combined per cluster.
#[derive(Clone, Debug)]
pub struct PostBuildVariables {
    from_sources: Variables,
    substitute: Vec<(String, Template)>,
}

impl PostBuildVariables {
    /// Validates `substitute` (names and placeholders) and `substituteFrom`'s data keys.
    pub fn new(
        substitute: &BTreeMap<String, String>,
        sources: &[VariableSource],
    ) -> Result<Self, VariablesError> {
        let mut from_sources = Variables::default();
        for source in sources {
            let kind = match source.kind {
                ValuesKind::ConfigMap => "ConfigMap",
                ValuesKind::Secret => "Secret",
            };
            for (name, value) in &source.data {
                if !is_variable_name(name) {
                    return Err(VariablesError::InvalidName {
                        origin: format!("{kind}/{}", source.name),
                        name: name.clone(),
                    });
                }
                from_sources.set(
                    name.clone(),
                    value.clone(),
                    source.kind == ValuesKind::Secret,
                );
            }
        }
        let substitute = substitute
            .iter()
            .map(|(name, value)| {
                if !is_variable_name(name) {
                    return Err(VariablesError::InvalidName {
                        origin: "postBuild.substitute".into(),
                        name: name.clone(),
                    });
                }
                let template =
                    Template::parse(value).map_err(|source| VariablesError::Template {
                        name: name.clone(),
                        source,
                    })?;
                Ok((name.clone(), template))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            from_sources,
            substitute,
        })
    }

    /// Every variable `cluster` sees.
    pub fn for_cluster(&self, cluster: &ClusterInfo) -> Result<Variables, VariablesError> {
        let cluster_vars = Variables::from_pairs(cluster.variables());
        let mut out = cluster_vars.clone();
        for (name, value) in &self.from_sources.values {
            out.set(
                name.clone(),
                value.clone(),
                self.from_sources.secret.contains(name),
            );
        }
        for (name, template) in &self.substitute {
            // Only the per-cluster variables may appear in a `substitute` value, as the API
            // documents; the expansion is strict so a typo fails loudly.
            let value = template.render(&cluster_vars, true).map_err(|source| {
                VariablesError::Undefined {
                    name: name.clone(),
                    cluster: format!("{}/{}", cluster.namespace, cluster.name),
                    source,
                }
            })?;
            out.set(name.clone(), value, false);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn layers_win_in_order() {
        let cluster = ClusterInfo {
            name: "eu-1".into(),
            namespace: "fleet".into(),
            labels: map(&[("env", "prod")]),
            ..Default::default()
        };
        let sources = [
            VariableSource {
                kind: ValuesKind::ConfigMap,
                name: "a".into(),
                data: map(&[("region", "eu"), ("tier", "a"), ("cluster_label_env", "x")]),
            },
            VariableSource {
                kind: ValuesKind::Secret,
                name: "b".into(),
                data: map(&[("tier", "b"), ("token", "s3cr3t")]),
            },
        ];
        let post = PostBuildVariables::new(
            &map(&[
                ("host", "web.${cluster_name}.example.com"),
                ("region", "us"),
            ]),
            &sources,
        )
        .unwrap();
        let vars = post.for_cluster(&cluster).unwrap();
        assert_eq!(vars.get("host"), Some("web.eu-1.example.com"));
        assert_eq!(vars.get("region"), Some("us"), "substitute wins");
        assert_eq!(vars.get("tier"), Some("b"), "later source wins");
        assert_eq!(
            vars.get("cluster_label_env"),
            Some("x"),
            "sources win over cluster"
        );
        let debug = format!("{vars:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("token"));
        assert!(!format!("{:?}", sources[1]).contains("s3cr3t"));
    }

    #[test]
    fn substitute_values_may_only_use_cluster_variables() {
        let post = PostBuildVariables::new(&map(&[("a", "${b}"), ("b", "1")]), &[]).unwrap();
        let err = post.for_cluster(&ClusterInfo::default()).unwrap_err();
        assert!(err.to_string().contains("postBuild.substitute.a"), "{err}");
        assert!(err.to_string().contains("\"b\""), "{err}");
    }

    #[test]
    fn invalid_names_are_refused_with_their_origin() {
        let err = PostBuildVariables::new(&map(&[("web-host", "x")]), &[]).unwrap_err();
        assert!(err.to_string().contains("\"web-host\""), "{err}");
        let source = VariableSource {
            kind: ValuesKind::Secret,
            name: "creds".into(),
            data: map(&[("bad.key", "hunter2")]),
        };
        let err = PostBuildVariables::new(&BTreeMap::new(), &[source]).unwrap_err();
        assert!(err.to_string().contains("Secret/creds"), "{err}");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn keys_are_normalized() {
        let cluster = ClusterInfo {
            name: "c".into(),
            namespace: "n".into(),
            labels: map(&[("topology.kubernetes.io/Region", "eu")]),
            annotations: map(&[("example.com/owner-team", "core")]),
        };
        let vars = cluster.variables();
        assert_eq!(vars["cluster_label_topology_kubernetes_io_region"], "eu");
        assert_eq!(vars["cluster_annotation_example_com_owner_team"], "core");
    }
}
