//! Builds a [`Schema`] from OpenAPI/JSON-schema documents, following the API server's
//! conversion of OpenAPI to merge types (kube-openapi's `schemaconv`):
//! - `x-kubernetes-list-type`: `atomic`, `set` (associative by value) or `map`
//!   (associative by `x-kubernetes-list-map-keys`); a list without it is associative by
//!   `x-kubernetes-patch-merge-key` when `x-kubernetes-patch-strategy` includes `merge`,
//!   otherwise atomic;
//! - `x-kubernetes-map-type: atomic` makes a struct or map atomic, also next to a `$ref`;
//! - int-or-string (`x-kubernetes-int-or-string`, or a `oneOf` of scalars as
//!   `IntOrString` and `Quantity` are written) is an untyped scalar;
//! - an object with no declared fields, a schema with no type, and
//!   `x-kubernetes-preserve-unknown-fields` give untyped "deduced" values: maps granular,
//!   lists atomic.
//!
//! Two documents are understood: the built-in type definitions (`_definitions.json` of the
//! `kubernetes-validate` package: `$defs`, `$ref: "#/$defs/…"`, `type: [T, "null"]`) and a
//! CRD version's `openAPIV3Schema`.

use super::schema::{
    Atom, ListKind, ListType, MapType, Scalar, Schema, StructField, TypeRef, UNTYPED_DEDUCED,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Name given to a custom resource's root type.
pub const CRD_ROOT: &str = "__crd_root";
/// Name of the ObjectMeta model used by custom resources.
pub const CRD_OBJECT_META: &str = "__crd_object_meta";

/// Why a schema document could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The document lacks `$defs`/`definitions`.
    #[error("no $defs or definitions object in the schema document")]
    NoDefinitions,
    /// The CRD schema's root is not an object schema.
    #[error("a CRD openAPIV3Schema must be a JSON object")]
    NotAnObject,
}

/// A group/version/kind, as `x-kubernetes-group-version-kind` lists them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gvk {
    /// API group, `""` for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
}

/// The built-in types, with an index from kind to root type.
#[derive(Clone, Debug)]
pub struct Definitions {
    /// All definitions as merge types.
    pub schema: Schema,
    /// Root type name of each top-level kind.
    pub kinds: BTreeMap<Gvk, String>,
}

impl Definitions {
    /// The root type of a kind.
    pub fn root(&self, group: &str, version: &str, kind: &str) -> Option<TypeRef> {
        let gvk = Gvk {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        };
        self.kinds.get(&gvk).map(|n| TypeRef::named(n))
    }
}

/// Loads the built-in definitions document.
pub fn from_definitions(doc: &Value) -> Result<Definitions, SchemaError> {
    let defs = doc
        .get("$defs")
        .or_else(|| doc.get("definitions"))
        .and_then(Value::as_object)
        .ok_or(SchemaError::NoDefinitions)?;
    Ok(from_defs(defs))
}

/// Loads the built-in definitions from their `$defs` object (as
/// [`crate::discovery::catalog::Definitions`] holds it).
pub fn from_defs(defs: &Map<String, Value>) -> Definitions {
    let mut schema = Schema::new();
    let mut kinds = BTreeMap::new();
    for (name, def) in defs {
        let mut atom = convert_atom(def);
        apply_quirks(name, &mut atom);
        schema.insert(name.clone(), atom);
        for g in def
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let s = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            kinds.insert(
                Gvk {
                    group: s("group"),
                    version: s("version"),
                    kind: s("kind"),
                },
                name.clone(),
            );
        }
    }
    Definitions { schema, kinds }
}

/// Defaults the server applies to list-map keys before keying items, so that a container
/// port sent without `protocol` is the same item as the defaulted `TCP` one.
fn apply_quirks(name: &str, atom: &mut Atom) {
    let defaulted: &[(&str, &str, Value)] = &[
        ("io.k8s.api.core.v1.ContainerPort", "protocol", json!("TCP")),
        ("io.k8s.api.core.v1.ServicePort", "protocol", json!("TCP")),
    ];
    for (def, field, default) in defaulted {
        if *def != name {
            continue;
        }
        if let Some(m) = atom.map.as_mut() {
            let mut fields = std::mem::take(&mut m.fields);
            for f in fields.iter_mut().filter(|f| f.name == *field) {
                f.default = Some(default.clone());
            }
            **m = MapType::new(fields, m.element.take(), m.atomic);
        }
    }
}

/// Loads a CRD version's `openAPIV3Schema` into a schema whose root is [`CRD_ROOT`].
/// `apiVersion`, `kind` and `metadata` are typed as for every object, whatever the CRD says.
pub fn from_crd(open_api_v3: &Value) -> Result<(Schema, TypeRef), SchemaError> {
    if !open_api_v3.is_object() {
        return Err(SchemaError::NotAnObject);
    }
    let mut root = convert_atom(open_api_v3);
    let map = root.map.get_or_insert_with(Default::default);
    let mut fields: Vec<StructField> = std::mem::take(&mut map.fields)
        .into_iter()
        .filter(|f| !matches!(f.name.as_str(), "apiVersion" | "kind" | "metadata"))
        .collect();
    fields.push(field("apiVersion", scalar(Scalar::String)));
    fields.push(field("kind", scalar(Scalar::String)));
    fields.push(field("metadata", TypeRef::named(CRD_OBJECT_META)));
    **map = MapType::new(fields, map.element.take(), map.atomic);
    let mut schema = Schema::new();
    schema.insert(CRD_ROOT, root);
    schema.insert(CRD_OBJECT_META, object_meta());
    Ok((schema, TypeRef::named(CRD_ROOT)))
}

fn field(name: &str, ty: TypeRef) -> StructField {
    StructField {
        name: name.to_string(),
        ty,
        default: None,
    }
}

fn scalar(s: Scalar) -> TypeRef {
    TypeRef::inline(Atom::scalar(s))
}

/// ObjectMeta with the same merge markers as the built-in definition.
fn object_meta() -> Atom {
    let string = || scalar(Scalar::String);
    let string_map = || TypeRef::inline(Atom::map(MapType::new(Vec::new(), Some(string()), false)));
    let owner_reference = TypeRef::inline(Atom::map(MapType::new(
        ["apiVersion", "kind", "name", "uid"]
            .into_iter()
            .map(|n| field(n, string()))
            .chain(
                ["blockOwnerDeletion", "controller"]
                    .into_iter()
                    .map(|n| field(n, scalar(Scalar::Boolean))),
            )
            .collect(),
        None,
        false,
    )));
    let mut fields: Vec<StructField> = [
        "name",
        "namespace",
        "generateName",
        "uid",
        "resourceVersion",
        "selfLink",
        "creationTimestamp",
        "deletionTimestamp",
    ]
    .into_iter()
    .map(|n| field(n, string()))
    .collect();
    fields.push(field("generation", scalar(Scalar::Numeric)));
    fields.push(field("deletionGracePeriodSeconds", scalar(Scalar::Numeric)));
    fields.push(field("labels", string_map()));
    fields.push(field("annotations", string_map()));
    fields.push(field(
        "finalizers",
        TypeRef::inline(Atom::list(ListType {
            element: string(),
            kind: ListKind::Associative,
            keys: Vec::new(),
        })),
    ));
    fields.push(field(
        "ownerReferences",
        TypeRef::inline(Atom::list(ListType {
            element: owner_reference,
            kind: ListKind::Associative,
            keys: vec!["uid".to_string()],
        })),
    ));
    fields.push(field(
        "managedFields",
        TypeRef::named(super::schema::UNTYPED_ATOMIC),
    ));
    Atom::map(MapType::new(fields, None, false))
}

/// The definition name a `$ref` (`#/$defs/NAME` or `#/definitions/NAME`) points at.
pub(crate) fn ref_name(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

fn ext<'a>(node: &'a Value, key: &str) -> Option<&'a str> {
    node.get(key).and_then(Value::as_str)
}

fn flag(node: &Value, key: &str) -> bool {
    node.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The `$ref` of a property or item schema: its own, or that of a lone `allOf` member
/// (how generators write a `$ref` with siblings).
pub(crate) fn ref_target(node: &Value) -> Option<&str> {
    node.get("$ref").and_then(Value::as_str).or_else(|| {
        match node
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([only]) => only.get("$ref").and_then(Value::as_str),
            _ => None,
        }
    })
}

/// A reference to the type a property or item schema describes.
fn convert_ref(node: &Value) -> TypeRef {
    let Some(target) = ref_target(node) else {
        return TypeRef::inline(convert_atom(node));
    };
    let tr = TypeRef::named(ref_name(target));
    if ext(node, "x-kubernetes-map-type") == Some("atomic")
        || ext(node, "x-kubernetes-list-type") == Some("atomic")
    {
        tr.atomic()
    } else {
        tr
    }
}

fn types_of(node: &Value) -> Vec<&str> {
    match node.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    }
}

/// The merge type of a schema node.
fn convert_atom(node: &Value) -> Atom {
    if flag(node, "x-kubernetes-int-or-string")
        || node.get("oneOf").is_some()
        || node.get("anyOf").is_some()
    {
        return Atom::scalar(Scalar::Untyped);
    }
    let types = types_of(node);
    let preserve = flag(node, "x-kubernetes-preserve-unknown-fields");
    let is = |t: &str| types.contains(&t);
    if is("object") || node.get("properties").is_some() {
        return convert_object(node, preserve);
    }
    if is("array") {
        return Atom::list(convert_list(node));
    }
    match types.first().copied() {
        Some("string") => Atom::scalar(Scalar::String),
        Some("integer" | "number") => Atom::scalar(Scalar::Numeric),
        Some("boolean") => Atom::scalar(Scalar::Boolean),
        _ => Atom::untyped_deduced(),
    }
}

fn convert_object(node: &Value, preserve: bool) -> Atom {
    let props = node.get("properties").and_then(Value::as_object);
    let fields: Vec<StructField> = props
        .into_iter()
        .flatten()
        .map(|(name, prop)| StructField {
            name: name.clone(),
            ty: convert_ref(prop),
            default: prop.get("default").cloned(),
        })
        .collect();
    let element = match node.get("additionalProperties") {
        Some(Value::Object(schema)) => Some(convert_ref(&Value::Object(schema.clone()))),
        Some(Value::Bool(true)) => Some(TypeRef::named(UNTYPED_DEDUCED)),
        _ if preserve || props.is_none() => Some(TypeRef::named(UNTYPED_DEDUCED)),
        _ => None,
    };
    let atomic = ext(node, "x-kubernetes-map-type") == Some("atomic");
    Atom::map(MapType::new(fields, element, atomic))
}

fn convert_list(node: &Value) -> ListType {
    let element = match node.get("items") {
        Some(items @ Value::Object(_)) => convert_ref(items),
        _ => TypeRef::named(super::schema::UNTYPED_ATOMIC),
    };
    let (kind, keys) = match ext(node, "x-kubernetes-list-type") {
        Some("atomic") => (ListKind::Atomic, Vec::new()),
        Some("set") => (ListKind::Associative, Vec::new()),
        Some("map") => (
            ListKind::Associative,
            node.get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        _ => match ext(node, "x-kubernetes-patch-strategy") {
            Some(s) if s.split(',').any(|p| p == "merge") => (
                ListKind::Associative,
                ext(node, "x-kubernetes-patch-merge-key")
                    .map(|k| vec![k.to_string()])
                    .unwrap_or_default(),
            ),
            _ => (ListKind::Atomic, Vec::new()),
        },
    };
    ListType {
        element,
        kind,
        keys,
    }
}
