//! The kustomization Flotilla wraps around a deployer's `path` to apply the deployer's own
//! kustomize fields — `targetNamespace`, `namePrefix`, `nameSuffix`, `patches`, `images`
//! and `components` — the way Flux's kustomize-controller adds them to the build, so
//! kustomize itself does the work (name references follow a prefix, patch targets
//! select by kustomize's rules).

use std::path::Path;

use flotilla_api::KustomizationSpec;
use flotilla_api::common::Selector;
use serde_json::{Map, Value, json};

/// The overlay's `kustomization.yaml`, as JSON (which kustomize reads as YAML).
/// `resource` and `components` are paths relative to the overlay's directory.
pub(crate) fn overlay_kustomization(
    spec: &KustomizationSpec,
    resource: &Path,
    components: &[std::path::PathBuf],
) -> Value {
    let mut k = Map::new();
    k.insert(
        "apiVersion".into(),
        "kustomize.config.k8s.io/v1beta1".into(),
    );
    k.insert("kind".into(), "Kustomization".into());
    k.insert("resources".into(), json!([resource.to_string_lossy()]));
    if let Some(namespace) = &spec.target_namespace {
        k.insert("namespace".into(), namespace.as_str().into());
    }
    if let Some(prefix) = &spec.name_prefix {
        k.insert("namePrefix".into(), prefix.as_str().into());
    }
    if let Some(suffix) = &spec.name_suffix {
        k.insert("nameSuffix".into(), suffix.as_str().into());
    }
    if !components.is_empty() {
        let paths: Vec<_> = components.iter().map(|c| c.to_string_lossy()).collect();
        k.insert("components".into(), json!(paths));
    }
    if !spec.patches.is_empty() {
        let patches = spec
            .patches
            .iter()
            .map(|p| {
                let mut patch = Map::new();
                patch.insert("patch".into(), p.patch.as_str().into());
                if let Some(target) = &p.target {
                    patch.insert("target".into(), selector(target));
                }
                Value::Object(patch)
            })
            .collect();
        k.insert("patches".into(), Value::Array(patches));
    }
    if !spec.images.is_empty() {
        let images = spec
            .images
            .iter()
            .map(|i| {
                let mut image = Map::new();
                image.insert("name".into(), i.name.as_str().into());
                let optional = [
                    ("newName", &i.new_name),
                    ("newTag", &i.new_tag),
                    ("digest", &i.digest),
                ];
                for (field, value) in optional {
                    if let Some(value) = value {
                        image.insert(field.into(), value.as_str().into());
                    }
                }
                Value::Object(image)
            })
            .collect();
        k.insert("images".into(), Value::Array(images));
    }
    Value::Object(k)
}

/// A patch target in kustomize's spelling, which is the same as ours.
fn selector(s: &Selector) -> Value {
    let fields = [
        ("group", &s.group),
        ("version", &s.version),
        ("kind", &s.kind),
        ("name", &s.name),
        ("namespace", &s.namespace),
        ("labelSelector", &s.label_selector),
        ("annotationSelector", &s.annotation_selector),
    ];
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), Value::from(v.as_deref()?))))
            .collect(),
    )
}
