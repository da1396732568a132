//! Shared by the integration tests: the fixture repository, kubectl, and deployer specs.

use std::path::{Path, PathBuf};

use flotilla_api::KustomizationSpec;
use flotilla_render::Kustomize;
use serde_json::{Value, json};

/// The fixture artifact: a small Git-repository-like tree of kustomize bases, overlays,
/// components and plain manifests.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo")
}

/// kubectl from `make tools`; failing (not skipping) without it, as the other crates do.
pub fn kubectl() -> PathBuf {
    flotilla_testkit::tools::kubectl().expect("kubectl (run `make tools`)")
}

pub fn kustomize() -> Kustomize {
    Kustomize::new(kubectl())
}

/// A Kustomization spec from the fields a test cares about.
pub fn spec(fields: Value) -> KustomizationSpec {
    let mut spec = json!({
        "sourceRef": {"kind": "GitRepository", "name": "fixtures"},
        "interval": "5m",
        "prune": true,
    });
    if let (Some(spec), Some(fields)) = (spec.as_object_mut(), fields.as_object()) {
        spec.extend(fields.clone());
    }
    serde_json::from_value(spec).expect("a valid KustomizationSpec")
}
