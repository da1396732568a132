//! Shared fixtures for the server-side apply tests: the real built-in schemas and a small
//! in-memory "object + managedFields" store driven through the public field manager.

// Test fixtures: panicking on a broken fixture is the point, and each test binary that
// includes this module uses only part of it.
#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use kubesim::ssa::openapi::{self, Definitions};
use kubesim::ssa::{FieldManager, FieldSet, SsaError, TypeRef, Writer, fieldsv1};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

pub const NOW: &str = "2026-01-02T03:04:05Z";

/// Where `make tools` caches the Kubernetes 1.35 definitions.
fn definitions_path() -> PathBuf {
    let tools = std::env::var_os("FLOTILLA_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/flotilla/tools")
        });
    tools.join("schemas/kubernetes-v1.35.0/_definitions.json")
}

/// The built-in definitions; panics with instructions when `make tools` has not run.
pub fn definitions() -> &'static Definitions {
    static DEFS: OnceLock<Definitions> = OnceLock::new();
    DEFS.get_or_init(|| {
        let path = definitions_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}. Run `make tools` first (it caches the Kubernetes \
                 schemas; FLOTILLA_TOOLS_DIR overrides ~/.cache/flotilla/tools)",
                path.display()
            )
        });
        let doc: Value = serde_json::from_str(&text).expect("definitions are JSON");
        openapi::from_definitions(&doc).expect("definitions load")
    })
}

pub fn root(group: &str, version: &str, kind: &str) -> TypeRef {
    definitions()
        .root(group, version, kind)
        .unwrap_or_else(|| panic!("no definition for {group}/{version} {kind}"))
}

/// One object on an emulated server, written through the field manager.
pub struct Object {
    pub root: TypeRef,
    pub api_version: String,
    pub ignored: Option<FieldSet>,
    pub live: Option<Value>,
}

impl Object {
    pub fn builtin(group: &str, version: &str, kind: &str) -> Self {
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Object {
            root: root(group, version, kind),
            api_version,
            ignored: None,
            live: None,
        }
    }

    fn fm(&self) -> FieldManager<'_> {
        FieldManager {
            schema: &definitions().schema,
            root: &self.root,
            ignored: self.ignored.as_ref(),
            empty: None,
        }
    }

    fn writer<'a>(&'a self, manager: &'a str) -> Writer<'a> {
        Writer {
            manager,
            api_version: &self.api_version,
            subresource: "",
            now: NOW,
        }
    }

    /// Server-side apply; returns whether anything (object or managedFields) changed.
    pub fn apply(&mut self, manager: &str, config: Value, force: bool) -> Result<bool, SsaError> {
        let w = self
            .fm()
            .apply(self.live.as_ref(), &config, &self.writer(manager), force)?;
        self.live = Some(w.object);
        Ok(w.object_changed || w.managed_fields_changed)
    }

    /// A create, PUT or non-apply patch producing `new`.
    pub fn update(&mut self, manager: &str, new: Value) -> bool {
        let w = self
            .fm()
            .update(self.live.as_ref(), &new, &self.writer(manager))
            .expect("update succeeds");
        self.live = Some(w.object);
        w.object_changed || w.managed_fields_changed
    }

    /// The live object without managedFields.
    pub fn object(&self) -> Value {
        let mut o = self.live.clone().expect("object exists");
        if let Some(Value::Object(m)) = o.get_mut("metadata") {
            m.remove("managedFields");
        }
        o
    }

    pub fn entries(&self) -> Vec<Value> {
        self.live
            .as_ref()
            .and_then(|l| l.pointer("/metadata/managedFields"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// `(manager, operation)` of each managedFields entry, in order.
    pub fn managers(&self) -> Vec<(String, String)> {
        self.entries()
            .iter()
            .map(|e| {
                (
                    e["manager"].as_str().unwrap_or("").to_string(),
                    e["operation"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// The exact `fieldsV1` text of one manager's entry.
    pub fn fields_of(&self, manager: &str, operation: &str) -> Option<String> {
        self.entries()
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
            .map(|e| {
                fieldsv1::to_string(&fieldsv1::from_json(&e["fieldsV1"]).expect("valid fieldsV1"))
            })
    }

    /// Whether a manager's entry owns the field at a rendered path like `.spec.replicas`.
    pub fn owns(&self, manager: &str, operation: &str, path: &str) -> bool {
        self.entries()
            .iter()
            .filter(|e| e["manager"] == manager && e["operation"] == operation)
            .any(|e| {
                fieldsv1::from_json(&e["fieldsV1"])
                    .expect("valid fieldsV1")
                    .paths()
                    .iter()
                    .any(|p| p.to_string() == path)
            })
    }
}
