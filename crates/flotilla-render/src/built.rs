//! The output of one kustomize build, prepared for cheap per-cluster substitution.
//!
//! A fleet renders the same build for every cluster, so everything that does not depend
//! on the cluster happens once, in [`BuiltManifests::parse`]: YAML parsing, identity
//! checks, `commonMetadata`, the per-object opt-out, and parsing of every `${…}` into a
//! [`Template`] at a known path. [`BuiltManifests::for_cluster`] then only clones each
//! object and renders its templates.
//!
//! Substitution works on the value tree, never on text, so a value cannot inject YAML
//! structure (Flux substitutes text and strips newlines from inline values to limit that).
//! Types follow Flux's text substitution, so manifests written for Flux render the same:
//! a placeholder in a scalar is typed by the text it becomes (`replicas: ${replicas}` with
//! `replicas: "3"` is the integer 3, an empty result is null). Quotes in the source do not
//! help, because kustomize drops the quotes `"${port}"` does not need: as in Flux, it
//! becomes the integer 8080, and a number meant as a string is written
//! `${quote}${port}${quote}` with `quote: '"'`. What differs from Flux is only what text
//! substitution gets wrong: a value is never read as YAML structure (`a: b` or `[1]` stay
//! strings, `#` starts no comment). Mapping keys are substituted too, and stay strings.

use std::collections::{BTreeMap, HashMap};

use flotilla_api::common::CommonMetadata;
use flotilla_api::well_known::SUBSTITUTE_ANNOTATION;
use serde_json::Value;

use crate::error::{ManifestError, SubstituteError};
use crate::objects::{Object, ObjectSet, check_unique};
use crate::template::Template;
use crate::variables::Variables;
use crate::yaml_tree::{PathSegment, parse_documents, resolve_substituted};

/// The value of [`SUBSTITUTE_ANNOTATION`] (as a label or annotation) that opts an object
/// out of substitution.
pub const SUBSTITUTE_DISABLED: &str = "disabled";

/// What happens to `${var}` when `var` is undefined and has no default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strictness {
    /// The object fails, naming the variable (Flux's `StrictPostBuildSubstitutions`).
    #[default]
    Strict,
    /// The placeholder becomes empty (Flux's default).
    Lenient,
}

/// kustomize's output for one (artifact revision, deployer), before substitution.
#[derive(Clone, Debug)]
pub struct BuiltManifests {
    objects: Vec<BuiltObject>,
}

#[derive(Clone, Debug)]
struct BuiltObject {
    object: Object,
    sites: Vec<Site>,
}

/// A string that depends on the variables.
#[derive(Clone, Debug)]
struct Site {
    /// For a key, the path of its entry (ending with the key as written).
    path: Vec<PathSegment>,
    template: Template,
    /// Unquoted in kustomize's output: the substituted text is typed as YAML would.
    plain: bool,
    /// A mapping key, renamed rather than replaced.
    key: bool,
}

impl BuiltManifests {
    /// Reads kustomize's output and applies `commonMetadata`.
    pub fn parse(
        text: &str,
        common_metadata: Option<&CommonMetadata>,
    ) -> Result<Self, ManifestError> {
        let mut objects = Vec::new();
        for (index, document) in parse_documents(text)?.into_iter().enumerate() {
            let mut object = Object::new(document.value, &format!("document {}", index + 1))?;
            let mut sites = Vec::new();
            if !opted_out(&object.value) {
                for scalar in document.templated {
                    if scalar.key {
                        let Some(PathSegment::Key(text)) = scalar.path.last() else {
                            continue;
                        };
                        let template =
                            Template::parse(text).map_err(|source| ManifestError::Template {
                                object: Box::new(object.id.clone()),
                                source,
                            })?;
                        // Even an escape-only key is renamed per cluster: renaming now
                        // would invalidate the paths of the sites beneath it.
                        sites.push(Site {
                            path: scalar.path,
                            template,
                            plain: false,
                            key: true,
                        });
                        continue;
                    }
                    let Some(Value::String(text)) = lookup(&mut object.value, &scalar.path) else {
                        continue;
                    };
                    let template =
                        Template::parse(text).map_err(|source| ManifestError::Template {
                            object: Box::new(object.id.clone()),
                            source,
                        })?;
                    if template.has_variables() {
                        sites.push(Site {
                            path: scalar.path,
                            template,
                            plain: scalar.plain,
                            key: false,
                        });
                    } else {
                        // Only escapes (`$${x}`): the same text on every cluster, and
                        // still a string, as Flux leaves it.
                        *text = template
                            .render(&Variables::default(), false)
                            .unwrap_or_default();
                    }
                }
            }
            if let Some(common) = common_metadata {
                apply_common_metadata(&mut object.value, &mut sites, common);
            }
            objects.push(BuiltObject { object, sites });
        }
        check_unique(objects.iter().map(|o| &o.object))?;
        Ok(Self { objects })
    }

    /// How many objects the build produced.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the build produced nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The objects as one cluster receives them.
    pub fn for_cluster(
        &self,
        variables: &Variables,
        strictness: Strictness,
    ) -> Result<ObjectSet, SubstituteError> {
        let strict = strictness == Strictness::Strict;
        let mut out = Vec::with_capacity(self.objects.len());
        for built in &self.objects {
            if built.sites.is_empty() {
                out.push(built.object.clone());
                continue;
            }
            let mut value = built.object.value.clone();
            // Backwards: everything beneath a key is substituted before the key is renamed,
            // while the paths still hold the key as written.
            for site in built.sites.iter().rev() {
                let text = site.template.render(variables, strict).map_err(|source| {
                    SubstituteError::Undefined {
                        object: built.object.id.clone(),
                        source,
                    }
                })?;
                if site.key {
                    rename_key(&mut value, &site.path, text).map_err(|key| {
                        SubstituteError::DuplicateKey {
                            object: Box::new(built.object.id.clone()),
                            key,
                        }
                    })?;
                    continue;
                }
                if let Some(slot) = lookup(&mut value, &site.path) {
                    *slot = if site.plain {
                        resolve_substituted(&text)
                    } else {
                        Value::String(text)
                    };
                }
            }
            // Named as written: the substituted identity may hold a Secret's value.
            out.push(Object::with_origin(value, || built.object.id.to_string())?);
        }
        let mut seen = HashMap::with_capacity(out.len());
        for (index, object) in out.iter().enumerate() {
            if let Some(first) = seen.insert(&object.id, index) {
                return Err(SubstituteError::Duplicate {
                    first: Box::new(self.objects[first].object.id.clone()),
                    second: Box::new(self.objects[index].object.id.clone()),
                });
            }
        }
        Ok(ObjectSet::from_unique(out))
    }
}

/// Opted out by label or annotation, as Flux accepts either.
fn opted_out(value: &Value) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        value["metadata"][field][SUBSTITUTE_ANNOTATION].as_str() == Some(SUBSTITUTE_DISABLED)
    })
}

fn lookup<'a>(value: &'a mut Value, path: &[PathSegment]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |value, segment| match segment {
        PathSegment::Key(key) => value.get_mut(key.as_str()),
        PathSegment::Index(index) => value.get_mut(*index),
    })
}

/// Renames the key at the end of `path` to `new`; on a collision, the key as written.
fn rename_key(value: &mut Value, path: &[PathSegment], new: String) -> Result<(), String> {
    let Some((PathSegment::Key(old), parent)) = path.split_last() else {
        return Ok(());
    };
    let Some(map) = lookup(value, parent).and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if *old == new {
        return Ok(());
    }
    if map.contains_key(&new) {
        return Err(old.clone());
    }
    if let Some(entry) = map.remove(old) {
        map.insert(new, entry);
    }
    Ok(())
}

/// Sets the labels and annotations on the object's own metadata (not on templates or
/// selectors). They win over the manifests' own values, substituted or not, as Flux
/// applies them after substitution; they are not substituted themselves.
fn apply_common_metadata(value: &mut Value, sites: &mut Vec<Site>, common: &CommonMetadata) {
    for (field, entries) in [
        ("labels", &common.labels),
        ("annotations", &common.annotations),
    ] {
        if entries.is_empty() {
            continue;
        }
        let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
            // Every object has metadata (it has a name): `Object::new` checked.
            continue;
        };
        let map = metadata
            .entry(field)
            .or_insert_with(|| Value::Object(Default::default()));
        if !map.is_object() {
            *map = Value::Object(Default::default());
        }
        if let Some(map) = map.as_object_mut() {
            for (key, entry) in entries {
                map.insert(key.clone(), Value::String(entry.clone()));
            }
        }
        sites.retain(|site| !overridden(&site.path, field, entries));
    }
}

fn overridden(path: &[PathSegment], field: &str, entries: &BTreeMap<String, String>) -> bool {
    matches!(path, [PathSegment::Key(m), PathSegment::Key(f), PathSegment::Key(key)]
        if m == "metadata" && f == field && entries.contains_key(key))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MANIFESTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-${cluster_name}
  labels: {team: "${team}"}
spec:
  replicas: ${replicas}
  paused: ${paused:=false}
  template:
    spec:
      containers:
      - name: web
        image: "registry/web:${tag:=v1}"
        env:
        - {name: PORT, value: "${port}"}
        - name: EMPTY
          value: ${nothing:=}
        - {name: LITERAL, value: "$${cluster_name}"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: script
  annotations: {flotilla.dev/substitute: disabled}
data:
  run.sh: echo ${HOME}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: labelled
  labels: {flotilla.dev/substitute: disabled}
data:
  run.sh: echo ${HOME}
"#;

    fn vars_without(missing: &str) -> Variables {
        let pairs = [
            ("cluster_name", "eu-1"),
            ("replicas", "3"),
            ("port", "8080"),
            ("team", "core"),
        ];
        Variables::from_pairs(
            pairs
                .into_iter()
                .filter(|(k, _)| *k != missing)
                .map(|(k, v)| (k.into(), v.into())),
        )
    }

    fn vars() -> Variables {
        vars_without("")
    }

    #[test]
    fn substitution_keeps_quoting_semantics() {
        let built = BuiltManifests::parse(MANIFESTS, None).unwrap();
        let set = built.for_cluster(&vars(), Strictness::Strict).unwrap();
        let deployment = &set.iter().next().unwrap().value;
        assert_eq!(deployment["metadata"]["name"], json!("web-eu-1"));
        assert_eq!(deployment["metadata"]["labels"]["team"], json!("core"));
        assert_eq!(deployment["spec"]["replicas"], json!(3));
        assert_eq!(deployment["spec"]["paused"], json!(false));
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], json!("registry/web:v1"));
        assert_eq!(container["env"][0]["value"], json!("8080"));
        assert_eq!(container["env"][1]["value"], Value::Null);
        assert_eq!(container["env"][2]["value"], json!("${cluster_name}"));
        for opted_out in set.iter().skip(1) {
            assert_eq!(opted_out.value["data"]["run.sh"], json!("echo ${HOME}"));
        }
    }

    #[test]
    fn identity_follows_substitution() {
        let built = BuiltManifests::parse(MANIFESTS, None).unwrap();
        let set = built.for_cluster(&vars(), Strictness::Strict).unwrap();
        let names: Vec<_> = set.iter().map(|o| o.id.to_string()).collect();
        assert_eq!(
            names,
            [
                "Deployment.apps/web-eu-1",
                "ConfigMap/script",
                "ConfigMap/labelled"
            ]
        );
    }

    #[test]
    fn strict_mode_names_variable_and_object() {
        let built = BuiltManifests::parse(MANIFESTS, None).unwrap();
        let v = vars_without("port");
        let err = built.for_cluster(&v, Strictness::Strict).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Deployment.apps/web-${cluster_name}: variable \"port\" is not defined and has no default"
        );
        let lenient = built.for_cluster(&v, Strictness::Lenient).unwrap();
        let d = &lenient.iter().next().unwrap().value;
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
            json!("")
        );
    }

    #[test]
    fn common_metadata_wins_and_is_not_substituted() {
        let common = CommonMetadata {
            labels: [("team".to_owned(), "${x}".to_owned())].into(),
            annotations: [("owner".to_owned(), "platform".to_owned())].into(),
        };
        let built = BuiltManifests::parse(MANIFESTS, Some(&common)).unwrap();
        let set = built.for_cluster(&vars(), Strictness::Strict).unwrap();
        for object in &set {
            assert_eq!(object.value["metadata"]["labels"]["team"], json!("${x}"));
            assert_eq!(
                object.value["metadata"]["annotations"]["owner"],
                json!("platform")
            );
        }
    }

    #[test]
    fn substitution_can_create_duplicates() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"a${x}\"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"a${y}\"}\n";
        let built = BuiltManifests::parse(text, None).unwrap();
        let err = built
            .for_cluster(&Variables::default(), Strictness::Lenient)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConfigMap/a${x} and ConfigMap/a${y} are the same object after substitution"
        );
    }

    #[test]
    fn keys_are_substituted_after_what_they_hold() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  ${cluster_name}.conf: port=${port}\n  $${literal}: x\n  nested:\n    ${team}:\n      ${team}-inner: ${replicas}\n";
        let built = BuiltManifests::parse(text, None).unwrap();
        let set = built.for_cluster(&vars(), Strictness::Strict).unwrap();
        assert_eq!(
            set.iter().next().unwrap().value["data"],
            json!({
                "eu-1.conf": "port=8080",
                "${literal}": "x",
                "nested": {"core": {"core-inner": 3}},
            })
        );
        let clash = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  ${team}: x\n  core: y\n";
        let err = BuiltManifests::parse(clash, None)
            .unwrap()
            .for_cluster(&vars(), Strictness::Strict)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConfigMap/a: key \"${team}\" collides with another key after substitution"
        );
    }

    #[test]
    fn malformed_placeholder_names_the_object() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: \"${x^^}\"}\n";
        let err = BuiltManifests::parse(text, None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ConfigMap/a: unsupported placeholder \"${x^^}\""),
            "{err}"
        );
    }
}
