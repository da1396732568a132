//! Differential tests: random apply/update/force sequences run through kubesim's
//! [`Updater`] and through structured-merge-diff itself (the Go library the API server
//! uses, built from Debian's sources by `oracle/build.sh`), comparing after every step the
//! object, every manager's field set (as exact `fieldsV1` text) and the conflicts.
//!
//! The oracle is SMD v4.1.2. One documented difference is left out of the comparison: the
//! order of items in merged associative lists (v4.1 appends new items after the live ones;
//! current SMD, which kubesim follows, keeps the applied order — see the ordering table in
//! `ssa_tables.rs`). Lists are compared as sorted.

// A test binary: its helpers panic on broken fixtures by design.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod ssa_common;

use kubesim::ssa::openapi;
use kubesim::ssa::schema::Schema;
use kubesim::ssa::{FieldSet, ManagedFields, Path, SsaError, TypeRef, Updater, fieldsv1, value};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Sequences per kind; `KUBESIM_ORACLE_SEQUENCES` raises it for a deeper local run, and
/// `KUBESIM_ORACLE_SEED` varies the sequences.
const SEQUENCES: usize = 100;
const STEPS: usize = 10;
const MANAGERS: [&str; 4] = ["a", "b", "c", "d"];

fn oracle() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ssa-oracle");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oracle/build.sh");
        let status = Command::new("sh")
            .arg(&script)
            .arg(&out)
            .status()
            .expect("run oracle/build.sh");
        assert!(
            status.success(),
            "building the SMD oracle failed; it needs the Debian packages golang-go and \
             golang-k8s-sigs-structured-merge-diff-dev (apt-get install -y …)"
        );
        out.join("ssa-oracle")
    })
}

/// xorshift64*: deterministic, so a failure names a reproducible sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }
    /// A random subset, sometimes reordered.
    fn subset<T: Clone>(&mut self, xs: &[T]) -> Vec<T> {
        let mut out: Vec<T> = xs.iter().filter(|_| self.chance(50)).cloned().collect();
        if out.len() > 1 && self.chance(30) {
            out.reverse();
        }
        out
    }
    fn map(&mut self, entries: &[(&str, Value)]) -> Value {
        Value::Object(
            self.subset(entries)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }
}

#[derive(Debug, Clone)]
struct Step {
    op: &'static str,
    manager: &'static str,
    force: bool,
    object: Value,
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn sequences(seed: u64, generate: &dyn Fn(&mut Rng) -> Value) -> Vec<Vec<Step>> {
    let mut rng = Rng(seed ^ env_number("KUBESIM_ORACLE_SEED").unwrap_or(0));
    let count = env_number("KUBESIM_ORACLE_SEQUENCES").map_or(SEQUENCES, |n| n as usize);
    (0..count)
        .map(|_| {
            (0..STEPS)
                .map(|_| Step {
                    op: if rng.chance(70) { "apply" } else { "update" },
                    manager: rng.pick(&MANAGERS),
                    force: rng.chance(25),
                    object: generate(&mut rng),
                })
                .collect()
        })
        .collect()
}

#[derive(Debug, PartialEq)]
struct Observed {
    object: Value,
    managers: BTreeMap<String, (bool, String)>,
    conflicts: BTreeSet<(String, String)>,
    error: bool,
}

/// Sorts every list, so that item order does not count.
fn unordered(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(unordered).collect();
            items.sort_by(value::compare);
            Value::Array(items)
        }
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), unordered(v))).collect())
        }
        other => other.clone(),
    }
}

fn run_oracle(
    schema: &Schema,
    root: &str,
    ignored: Option<&FieldSet>,
    seqs: &[Vec<Step>],
) -> Vec<Vec<Observed>> {
    let input = json!({
        "schema": schema.to_smd_document(&[root]),
        "rootType": root,
        "ignored": ignored.map(fieldsv1::to_json),
        "sequences": seqs.iter().map(|s| s.iter().map(|st| json!({
            "op": st.op, "manager": st.manager, "version": "v1",
            "force": st.force, "object": st.object,
        })).collect::<Vec<_>>()).collect::<Vec<_>>(),
    });
    let mut child = Command::new(oracle())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the oracle");
    serde_json::to_writer(child.stdin.take().expect("stdin"), &input).expect("write input");
    let out = child.wait_with_output().expect("oracle runs");
    assert!(out.status.success(), "oracle failed");
    let result: Vec<Vec<Value>> = serde_json::from_slice(&out.stdout).expect("oracle output");
    result
        .into_iter()
        .map(|steps| {
            steps
                .into_iter()
                .map(|s| Observed {
                    object: unordered(&s["object"]),
                    managers: s["managers"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, m)| {
                            let applied = m["applied"].as_bool().unwrap_or(false);
                            let fields = m["fields"].as_str().unwrap_or("").to_string();
                            (k.clone(), (applied, fields))
                        })
                        .collect(),
                    conflicts: s["conflicts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            (
                                c["manager"].as_str().unwrap_or("").to_string(),
                                c["path"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect(),
                    error: s.get("error").is_some_and(|e| !e.is_null()),
                })
                .collect()
        })
        .collect()
}

fn has_null_or_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(items) => items.is_empty() || items.iter().any(has_null_or_empty),
        Value::Object(m) => m.is_empty() || m.values().any(has_null_or_empty),
        _ => false,
    }
}

fn run_kubesim(
    schema: &Schema,
    root: &TypeRef,
    ignored: Option<&FieldSet>,
    steps: &[Step],
) -> Vec<Observed> {
    let updater = Updater {
        schema,
        root,
        ignored,
    };
    let mut live = json!({});
    let mut managers = ManagedFields::new();
    let mut out = Vec::new();
    for st in steps {
        let mut conflicts = BTreeSet::new();
        let mut error = false;
        if st.op == "apply" {
            match updater.apply(
                &live,
                &st.object,
                "v1",
                managers.clone(),
                st.manager,
                st.force,
            ) {
                Ok(applied) => {
                    if let Some(o) = applied.object {
                        live = o;
                    }
                    managers = applied.managers;
                    // Applying the same configuration again changes nothing: no object,
                    // the same owners (what keeps a resourceVersion). SMD guarantees it up
                    // to nulls and empty lists/maps, which typed objects drop anyway.
                    if !has_null_or_empty(&st.object) {
                        let again = updater
                            .apply(&live, &st.object, "v1", managers.clone(), st.manager, false)
                            .expect("re-applying the same configuration succeeds");
                        assert!(again.object.is_none(), "re-apply changed {live}");
                        assert_eq!(again.managers, managers, "re-apply changed ownership");
                    }
                }
                Err(SsaError::Conflicts(c)) => {
                    conflicts =
                        c.0.iter()
                            .map(|c| (c.manager.clone(), c.path.to_string()))
                            .collect();
                }
                Err(_) => error = true,
            }
        } else {
            let mut m = managers.clone();
            match updater.update(&live, &st.object, "v1", &mut m, st.manager) {
                Ok(()) => {
                    live = st.object.clone();
                    managers = m;
                }
                Err(_) => error = true,
            }
        }
        for vs in managers.values() {
            let text = fieldsv1::to_string(&vs.set);
            assert_eq!(
                fieldsv1::from_str(&text).expect("our fieldsV1 parses"),
                vs.set,
                "fieldsV1 round trip of {text}"
            );
        }
        out.push(Observed {
            object: unordered(&live),
            managers: managers
                .iter()
                .map(|(k, v)| (k.clone(), (v.applied, fieldsv1::to_string(&v.set))))
                .collect(),
            conflicts,
            error,
        });
    }
    out
}

fn differential(
    name: &str,
    schema: &Schema,
    root_name: &str,
    ignored: Option<&FieldSet>,
    seed: u64,
    generate: &dyn Fn(&mut Rng) -> Value,
) {
    let seqs = sequences(seed, generate);
    let expected = run_oracle(schema, root_name, ignored, &seqs);
    let root = TypeRef::named(root_name);
    let mut conflicts_seen = 0;
    for (i, (steps, want)) in seqs.iter().zip(&expected).enumerate() {
        let got = run_kubesim(schema, &root, ignored, steps);
        for (j, (g, w)) in got.iter().zip(want).enumerate() {
            conflicts_seen += usize::from(!w.conflicts.is_empty());
            if g != w {
                let replay: Vec<String> = steps[..=j]
                    .iter()
                    .map(|s| format!("{} {} force={} {}", s.op, s.manager, s.force, s.object))
                    .collect();
                panic!(
                    "{name}: sequence {i} step {j} differs from structured-merge-diff\n\
                     steps:\n{}\nkubesim: {g:?}\noracle:  {w:?}",
                    replay.join("\n")
                );
            }
        }
    }
    assert!(
        conflicts_seen > 0,
        "{name}: the generated sequences never conflicted, so conflicts went untested"
    );
}

fn deployment(r: &mut Rng) -> Value {
    let mut obj =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    if r.chance(50) {
        let c = r.pick(&["x", "y"]);
        obj["metadata"]["labels"] = r.map(&[("a", json!("1")), ("b", json!("2")), ("c", json!(c))]);
    }
    if r.chance(25) {
        obj["metadata"]["finalizers"] = json!(r.subset(&["f/a", "f/b", "f/c"]));
    }
    let mut spec = serde_json::Map::new();
    if r.chance(60) {
        let replicas = r.pick(&[json!(1), json!(2), json!(3), Value::Null]);
        spec.insert("replicas".into(), replicas);
    }
    if r.chance(10) {
        spec.insert("paused".into(), Value::Null);
    }
    if r.chance(30) {
        spec.insert(
            "selector".into(),
            json!({"matchLabels": {"app": r.pick(&["web", "api"])}}),
        );
    }
    let names = r.subset(&["nginx", "sidecar", "log"]);
    if names.is_empty() && r.chance(20) {
        let containers = r.pick(&[json!([]), Value::Null]);
        spec.insert(
            "template".into(),
            json!({"spec": {"containers": containers}}),
        );
    } else if !names.is_empty() {
        let containers: Vec<Value> = names
            .into_iter()
            .map(|n| {
                let mut c = json!({"name": n});
                if r.chance(70) {
                    c["image"] = json!(r.pick(&["img:1", "img:2"]));
                }
                if r.chance(40) {
                    let tls = r.pick(&["https", "tls"]);
                    // Without protocol the key takes the schema default, TCP.
                    let http = r.pick(&[
                        json!({"containerPort": 80, "protocol": "TCP"}),
                        json!({"containerPort": 80}),
                    ]);
                    c["ports"] = json!(r.subset(&[
                        http,
                        json!({"containerPort": 443, "protocol": "TCP", "name": tls}),
                        json!({"containerPort": 53, "protocol": "UDP"}),
                    ]));
                }
                if r.chance(30) {
                    c["args"] =
                        r.pick(&[json!(["-a"]), json!(["-a", "-b"]), json!([]), Value::Null]);
                }
                if r.chance(15) {
                    c["resources"] =
                        r.pick(&[json!({}), json!({"limits": {"cpu": "1"}}), Value::Null]);
                }
                if r.chance(30) {
                    let v = r.pick(&["1", "2"]);
                    c["env"] = json!(r.subset(&[
                        json!({"name": "E1", "value": v}),
                        json!({"name": "E2", "value": "x"}),
                    ]));
                }
                c
            })
            .collect();
        let mut pod = json!({ "containers": containers });
        if r.chance(30) {
            let zone = r.pick(&["a", "b"]);
            pod["nodeSelector"] = r.map(&[("zone", json!(zone)), ("disk", json!("ssd"))]);
        }
        if r.chance(25) {
            let volume = r.pick(&["cm-1", "cm-2"]);
            pod["volumes"] = json!(r.subset(&[
                json!({"name": "config", "configMap": {"name": volume}}),
                json!({"name": "scratch", "emptyDir": {}}),
            ]));
        }
        if r.chance(20) {
            pod["tolerations"] = r.pick(&[
                json!([{"key": "k", "operator": "Exists"}]),
                json!([{"key": "k", "operator": "Exists"}, {"key": "j", "operator": "Exists"}]),
            ]);
        }
        spec.insert("template".into(), json!({ "spec": pod }));
    }
    if r.chance(20) {
        let surge = r.pick(&[json!(1), json!("25%")]);
        spec.insert(
            "strategy".into(),
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge}}),
        );
    }
    if !spec.is_empty() {
        obj["spec"] = Value::Object(spec);
    }
    if r.chance(20) {
        obj["status"] = json!({"replicas": r.pick(&[1, 2])});
    }
    obj
}

fn service(r: &mut Rng) -> Value {
    let mut obj = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}});
    let mut spec = serde_json::Map::new();
    if r.chance(70) {
        let target = r.pick(&[json!(8080), json!("http")]);
        let http = r.pick(&[
            json!({"port": 80, "protocol": "TCP", "targetPort": target}),
            json!({"port": 80, "targetPort": target}),
        ]);
        spec.insert(
            "ports".into(),
            json!(r.subset(&[
                http,
                json!({"port": 80, "protocol": "UDP"}),
                json!({"port": 443, "protocol": "TCP", "name": "https"}),
            ])),
        );
    }
    if r.chance(50) {
        let app = r.pick(&["web", "api"]);
        spec.insert(
            "selector".into(),
            r.map(&[("app", json!(app)), ("tier", json!("fe"))]),
        );
    }
    if r.chance(30) {
        spec.insert("type".into(), json!(r.pick(&["ClusterIP", "NodePort"])));
    }
    if !spec.is_empty() {
        obj["spec"] = Value::Object(spec);
    }
    obj
}

fn config_map(r: &mut Rng) -> Value {
    let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    if r.chance(80) {
        let (k1, k2) = (r.pick(&["a", "b"]), r.pick(&["c", "d"]));
        obj["data"] = r.map(&[("k1", json!(k1)), ("k2", json!(k2)), ("k3", json!("e"))]);
    }
    if r.chance(40) {
        let note = r.pick(&["x", "y"]);
        obj["metadata"]["annotations"] = r.map(&[("note", json!(note)), ("owner", json!("me"))]);
    }
    obj
}

fn custom_resource(r: &mut Rng) -> Value {
    let mut spec = serde_json::Map::new();
    if r.chance(30) {
        let app = r.pick(&["web", "api"]);
        spec.insert(
            "selector".into(),
            r.map(&[("app", json!(app)), ("tier", json!("fe"))]),
        );
    }
    if r.chance(30) {
        let mode = r.pick(&["fast", "safe"]);
        let knob = r.pick(&[json!(1), json!({"x": 1}), json!([1, 2])]);
        spec.insert(
            "config".into(),
            r.map(&[("mode", json!(mode)), ("knob", knob)]),
        );
    }
    if r.chance(30) {
        let v = r.pick(&["1", "2"]);
        spec.insert(
            "labels".into(),
            r.map(&[("a", json!(v)), ("b", json!("x"))]),
        );
    }
    if r.chance(60) {
        let weight = r.pick(&[1, 2]);
        spec.insert(
            "targets".into(),
            json!(r.subset(&[
                json!({"name": "t1", "weight": weight}),
                json!({"name": "t2", "weight": 5}),
                json!({"name": "t3"}),
            ])),
        );
    }
    if r.chance(40) {
        spec.insert("tags".into(), json!(r.subset(&["x", "y", "z"])));
    }
    if r.chance(40) {
        spec.insert("hosts".into(), json!(r.subset(&["h1", "h2"])));
    }
    if r.chance(40) {
        spec.insert("port".into(), r.pick(&[json!(80), json!("http")]));
    }
    if r.chance(40) {
        let deep = r.map(&[("a", json!(1)), ("b", json!([1, 2]))]);
        spec.insert("extra".into(), json!({ "deep": deep }));
    } else if r.chance(15) {
        let shape = r.pick(&[
            Value::Null,
            json!({}),
            json!({"deep": null}),
            json!({"deep": 5}),
            json!({"deep": [1]}),
        ]);
        spec.insert("extra".into(), shape);
    }
    if r.chance(10) {
        spec.insert("tags".into(), r.pick(&[json!([]), Value::Null]));
    }
    let mut obj =
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
    if !spec.is_empty() {
        obj["spec"] = Value::Object(spec);
    }
    obj
}

#[test]
fn deployments_match_structured_merge_diff() {
    let defs = ssa_common::definitions();
    let root = defs.root("apps", "v1", "Deployment").expect("kind");
    // As on the main resource, where the API server resets status.
    let status = FieldSet::from_paths([Path::fields(&["status"])]);
    differential(
        "Deployment",
        &defs.schema,
        root.name().expect("named"),
        Some(&status),
        0x5eed_0001,
        &deployment,
    );
}

#[test]
fn services_match_structured_merge_diff() {
    let defs = ssa_common::definitions();
    let root = defs.root("", "v1", "Service").expect("kind");
    differential(
        "Service",
        &defs.schema,
        root.name().expect("named"),
        None,
        0x5eed_0002,
        &service,
    );
}

#[test]
fn config_maps_match_structured_merge_diff() {
    let defs = ssa_common::definitions();
    let root = defs.root("", "v1", "ConfigMap").expect("kind");
    differential(
        "ConfigMap",
        &defs.schema,
        root.name().expect("named"),
        None,
        0x5eed_0003,
        &config_map,
    );
}

#[test]
fn custom_resources_match_structured_merge_diff() {
    let (schema, _) = openapi::from_crd(&json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "targets": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {"name": {"type": "string"}, "weight": {"type": "integer"}}}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "hosts": {"type": "array", "items": {"type": "string"}},
            "port": {"x-kubernetes-int-or-string": true},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                         "properties": {"app": {"type": "string"}, "tier": {"type": "string"}}},
            "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                       "properties": {"mode": {"type": "string"}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
        }}}
    }))
    .expect("converts");
    differential(
        "CRD",
        &schema,
        openapi::CRD_ROOT,
        None,
        0x5eed_0004,
        &custom_resource,
    );
}
