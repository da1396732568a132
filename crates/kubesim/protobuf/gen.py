#!/usr/bin/env python3
"""Writes src/protobuf/messages.json: the protobuf layout of every built-in Kubernetes message.

Field numbers are facts of the Kubernetes API (its `generated.proto` files). They are read
from the prost attributes (`#[prost(<type>, ..., tag = "N")]`) of the `k8s-pb` crate's
sources; JSON names, and which message each group/version/kind is, from the definitions
file `_definitions.json` (key `$defs`, `x-kubernetes-group-version-kind`).

Re-run (from the repository root) after fetching k8s-pb into the cargo registry, e.g. with
a scratch project outside the workspace:

    cargo new /tmp/pbfetch && (cd /tmp/pbfetch && cargo add k8s-pb@0.9 && cargo fetch)
    python3 crates/kubesim/protobuf/gen.py \
        ~/.cargo/registry/src/*/k8s-pb-0.9.0 \
        ~/.cache/flotilla/tools/schemas/kubernetes-v1.35.0/_definitions.json \
        > crates/kubesim/src/protobuf/messages.json

Output: {"kinds": {"<apiVersion> <Kind>": message}, "messages": {message: [field, ...]}}
with each field `[tag, jsonName, type, flags]`: type is a scalar (string, int32, int64,
bool, double, bytes) or a message name; flags has `r` for repeated, `m` for a map with
string keys (type is the value's), `i` for a message inlined into its parent in JSON.
"""
import json
import os
import re
import sys

ROOT_PACKAGES = {
    "api": "io.k8s.api",
    "apimachinery": "io.k8s.apimachinery",
    "apiextensions_apiserver": "io.k8s.apiextensions-apiserver",
    "kube_aggregator": "io.k8s.kube-aggregator",
    "metrics": "io.k8s.metrics",
}

ATTR = re.compile(
    r"#\[prost\((?P<args>[^]]*)\)\]\s*pub (?P<name>[a-z0-9_#]+):\s*(?P<ty>.*?),\s*(?=(?:///|#\[|\}|\Z))",
    re.S,
)
STRUCT = re.compile(r"pub struct (\w+) \{(\}|.*?\n\})", re.S)
SCALARS = {"string", "int32", "int64", "bool", "double", "bytes"}


def norm(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical(defs_by_norm, full):
    """prost renames messages (JSONSchemaProps → JsonSchemaProps): back to the definitions name."""
    pkg, _, name = full.rpartition(".")
    return defs_by_norm.get((pkg, name.lower()), full)


def package(module):
    """Module path (list) → definitions-style package name."""
    return ".".join([ROOT_PACKAGES[module[0]]] + module[1:])


def resolve(module, ty):
    """A Rust type path used in `module` → (module path, type name)."""
    ty = re.sub(r"\s+", "", ty).replace(",>", ">")
    inner = ty
    while True:
        m = re.match(r"^(?:::core::option::Option|::prost::alloc::vec::Vec|::prost::alloc::boxed::Box|Option|Vec|Box)<(.*)>$", inner)
        if not m:
            break
        inner = m.group(1)
    m = re.match(r"^(?:::prost::alloc::collections::BTreeMap|BTreeMap)<[^,]*,(.*)>$", inner)
    if m:
        inner = m.group(1)
    parts = inner.split("::")
    path = list(module)
    while parts and parts[0] == "super":
        path.pop()
        parts.pop(0)
    if parts and parts[0] == "crate":
        path = []
        parts.pop(0)
    return path + parts[:-1], parts[-1]


def main():
    src, defs_path = sys.argv[1], sys.argv[2]
    defs = json.load(open(defs_path))["$defs"]
    defs_by_norm = {}
    for name in defs:
        pkg, _, short = name.rpartition(".")
        defs_by_norm[(pkg, short.lower())] = name
    messages = {}
    unmatched = []
    for dirpath, _, files in os.walk(os.path.join(src, "src")):
        if "mod.rs" not in files:
            continue
        module = os.path.relpath(dirpath, os.path.join(src, "src")).split(os.sep)
        if module[0] not in ROOT_PACKAGES:
            continue
        text = open(os.path.join(dirpath, "mod.rs")).read()
        for sname, body in STRUCT.findall(text):
            full = canonical(defs_by_norm, package(module) + "." + sname)
            props = defs.get(full, {}).get("properties", {})
            by_norm = {norm(p): p for p in props}
            fields = []
            for m in ATTR.finditer(body + "\n"):
                args = m.group("args")
                tag = int(re.search(r'tag = "(\d+)"', args).group(1))
                rust_name = m.group("name").removeprefix("r#")
                flags = ""
                kind = args.split(",")[0].strip()
                if kind.startswith("btree_map") or kind.startswith("map"):
                    flags += "m"
                    value = re.search(r'map = "string, (\w+)"', args).group(1)
                    kind = value
                elif "repeated" in args:
                    flags += "r"
                if kind.startswith("bytes"):
                    kind = "bytes"
                if kind == "message":
                    mod, tname = resolve(module, m.group("ty"))
                    ty = canonical(defs_by_norm, package(mod) + "." + tname)
                elif kind in SCALARS:
                    ty = kind
                else:
                    raise SystemExit(f"{full}.{rust_name}: unknown prost type {kind}")
                json_name = by_norm.get(norm(rust_name))
                if json_name is None:
                    if props and kind == "message" and "r" not in flags:
                        # Embedded Go struct with `json:",inline"` (Volume.VolumeSource …).
                        flags += "i"
                        json_name = rust_name
                    else:
                        if props:
                            unmatched.append(f"{full}.{rust_name}")
                        head, *rest = rust_name.split("_")
                        json_name = head + "".join(w[:1].upper() + w[1:] for w in rest)
                fields.append([tag, json_name, ty, flags])
            messages[full] = sorted(fields)
    # Messages inlined in JSON (VolumeSource, ProbeHandler …) have no definition of their
    # own: their fields take their names from the parent's properties.
    for name, fs in list(messages.items()):
        props = defs.get(name, {}).get("properties", {})
        by_norm = {norm(p): p for p in props}
        for f in fs:
            if "i" in f[3] and f[2] not in defs:
                for g in messages[f[2]]:
                    g[1] = by_norm.get(norm(g[1]), g[1])
    kinds = {}
    for name, d in defs.items():
        if name not in messages:
            continue
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            kinds[f"{api_version} {gvk['kind']}"] = name
            if name.startswith("io.k8s.apimachinery.pkg.apis.meta.v1."):
                # Options sent on their own (DeleteOptions) may carry meta.k8s.io/v1.
                kinds[f"meta.k8s.io/v1 {gvk['kind']}"] = name
    # Only the messages of served kinds, and those they use.
    reachable, todo = set(), sorted(set(kinds.values()))
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        reachable.add(name)
        todo.extend(f[2] for f in messages[name] if f[2] in messages)
    messages = {n: fs for n, fs in messages.items() if n in reachable}
    for u in unmatched:
        print("no JSON name in the definitions, camelCase used:", u, file=sys.stderr)
    for n in sorted(messages):
        if n not in defs:
            print("not in the definitions:", n, file=sys.stderr)
    json.dump({"kinds": dict(sorted(kinds.items())), "messages": dict(sorted(messages.items()))},
              sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


main()
