//! The type model the merge runs on, mirroring structured-merge-diff's `schema` package.
//!
//! Every value is described by an [`Atom`], which may allow a scalar, a list and/or a map
//! (more than one only for untyped values, where the value's own shape decides):
//! - **scalars** are leaves: owned and replaced whole;
//! - **lists** are `atomic` (replaced whole, owned as one leaf) or `associative`: items are
//!   identified by their key fields (`x-kubernetes-list-type: map`) or, without keys, by
//!   their value (`set`);
//! - **maps** hold named struct fields and/or an element type for arbitrary keys; they are
//!   `atomic` (owned and replaced whole, e.g. `LabelSelector`) or granular.
//!
//! Types refer to each other by name ([`TypeRef::named`]) so recursive definitions work; a
//! reference may force the referenced map or list to be atomic, as
//! `x-kubernetes-map-type: atomic` next to a `$ref` does.

use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Name of the type for values with no schema whose nested lists and maps are atomic.
pub const UNTYPED_ATOMIC: &str = "__untyped_atomic_";
/// Name of the type for values with no schema (`x-kubernetes-preserve-unknown-fields`):
/// maps are granular, lists atomic, as the API server deduces them.
pub const UNTYPED_DEDUCED: &str = "__untyped_deduced_";

/// The kind of a scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// A JSON string.
    String,
    /// A JSON number.
    Numeric,
    /// A JSON boolean.
    Boolean,
    /// Any scalar (int-or-string, quantities, untyped values).
    Untyped,
}

/// How items of a list are identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// The list is one value, replaced and owned whole.
    Atomic,
    /// Items are identified by `keys` (map) or by their value (set, no keys).
    Associative,
    /// Items are identified by position (not produced by Kubernetes schemas).
    Positional,
}

/// A list type.
#[derive(Clone, Debug)]
pub struct ListType {
    /// Type of the items.
    pub element: TypeRef,
    /// How items are identified.
    pub kind: ListKind,
    /// Key field names for an associative list of maps; empty for a set.
    pub keys: Vec<String>,
}

/// A named field of a struct-like map.
#[derive(Clone, Debug)]
pub struct StructField {
    /// JSON name.
    pub name: String,
    /// Its type.
    pub ty: TypeRef,
    /// Value assumed when an associative-list item omits this key field (e.g. a container
    /// port's `protocol` defaults to `TCP`).
    pub default: Option<Value>,
}

/// A map type: a struct (named fields), a map (element type), or both.
#[derive(Clone, Debug, Default)]
pub struct MapType {
    /// Named fields, in schema order.
    pub fields: Vec<StructField>,
    /// Type of keys that are not named fields; `None` means unknown keys have no type.
    pub element: Option<TypeRef>,
    /// Owned and replaced as one value.
    pub atomic: bool,
    index: HashMap<String, usize>,
}

impl MapType {
    /// A map with the given fields, element type and atomicity.
    pub fn new(fields: Vec<StructField>, element: Option<TypeRef>, atomic: bool) -> Self {
        let index = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        MapType {
            fields,
            element,
            atomic,
            index,
        }
    }

    /// The named field `name`, if the type declares it.
    pub fn field(&self, name: &str) -> Option<&StructField> {
        self.index.get(name).map(|&i| &self.fields[i])
    }

    /// The type of key `name`: its field type, else the element type.
    pub fn type_of(&self, name: &str) -> Option<&TypeRef> {
        self.field(name).map(|f| &f.ty).or(self.element.as_ref())
    }
}

/// What a value may be.
#[derive(Clone, Debug, Default)]
pub struct Atom {
    /// Allowed as a scalar.
    pub scalar: Option<Scalar>,
    /// Allowed as a list.
    pub list: Option<Box<ListType>>,
    /// Allowed as a map.
    pub map: Option<Box<MapType>>,
}

impl Atom {
    /// A scalar atom.
    pub fn scalar(s: Scalar) -> Self {
        Atom {
            scalar: Some(s),
            ..Atom::default()
        }
    }

    /// A list atom.
    pub fn list(l: ListType) -> Self {
        Atom {
            list: Some(Box::new(l)),
            ..Atom::default()
        }
    }

    /// A map atom.
    pub fn map(m: MapType) -> Self {
        Atom {
            map: Some(Box::new(m)),
            ..Atom::default()
        }
    }

    /// The type of values with no schema whose maps are granular and lists atomic (what
    /// [`UNTYPED_DEDUCED`] names).
    pub fn untyped_deduced() -> Self {
        Atom {
            scalar: Some(Scalar::Untyped),
            list: Some(Box::new(ListType {
                element: TypeRef::named(UNTYPED_ATOMIC),
                kind: ListKind::Atomic,
                keys: Vec::new(),
            })),
            map: Some(Box::new(MapType::new(
                Vec::new(),
                Some(TypeRef::named(UNTYPED_DEDUCED)),
                false,
            ))),
        }
    }

    /// The list type, if lists are allowed.
    pub fn list_type(&self) -> Option<&ListType> {
        self.list.as_deref()
    }

    /// The map type, if maps are allowed.
    pub fn map_type(&self) -> Option<&MapType> {
        self.map.as_deref()
    }
}

/// A reference to a type: by name, or inline.
#[derive(Clone, Debug)]
pub struct TypeRef {
    target: Target,
    /// Forces the referenced list or map to be atomic.
    pub force_atomic: bool,
}

#[derive(Clone, Debug)]
enum Target {
    Named(Arc<str>),
    Inline(Arc<Atom>),
}

impl TypeRef {
    /// A reference to the named type.
    pub fn named(name: &str) -> Self {
        TypeRef {
            target: Target::Named(Arc::from(name)),
            force_atomic: false,
        }
    }

    /// An anonymous type.
    pub fn inline(atom: Atom) -> Self {
        TypeRef {
            target: Target::Inline(Arc::new(atom)),
            force_atomic: false,
        }
    }

    /// This reference, with its list or map forced atomic.
    pub fn atomic(mut self) -> Self {
        self.force_atomic = true;
        self
    }

    /// The referenced name, for named references.
    pub fn name(&self) -> Option<&str> {
        match &self.target {
            Target::Named(n) => Some(n),
            Target::Inline(_) => None,
        }
    }
}

/// A resolved type: the atom, adjusted by the reference's `force_atomic`.
#[derive(Debug)]
pub struct Resolved<'a> {
    atom: Cow<'a, Atom>,
}

impl Resolved<'_> {
    /// The atom itself.
    pub fn atom(&self) -> &Atom {
        &self.atom
    }

    /// The scalar kind, if scalars are allowed.
    pub fn scalar(&self) -> Option<Scalar> {
        self.atom.scalar
    }

    /// The list type, if lists are allowed.
    pub fn list(&self) -> Option<&ListType> {
        self.atom.list_type()
    }

    /// The map type, if maps are allowed.
    pub fn map(&self) -> Option<&MapType> {
        self.atom.map_type()
    }
}

/// A set of named types.
#[derive(Clone, Debug)]
pub struct Schema {
    types: HashMap<String, Atom>,
}

impl Default for Schema {
    fn default() -> Self {
        Self::new()
    }
}

impl Schema {
    /// A schema holding only the two untyped types.
    pub fn new() -> Self {
        let mut types = HashMap::new();
        let atomic = TypeRef::named(UNTYPED_ATOMIC);
        types.insert(
            UNTYPED_ATOMIC.to_string(),
            Atom {
                scalar: Some(Scalar::Untyped),
                list: Some(Box::new(ListType {
                    element: atomic.clone(),
                    kind: ListKind::Atomic,
                    keys: Vec::new(),
                })),
                map: Some(Box::new(MapType::new(Vec::new(), Some(atomic), true))),
            },
        );
        types.insert(UNTYPED_DEDUCED.to_string(), Atom::untyped_deduced());
        Schema { types }
    }

    /// Adds or replaces a named type.
    pub fn insert(&mut self, name: impl Into<String>, atom: Atom) {
        self.types.insert(name.into(), atom);
    }

    /// The named type.
    pub fn get(&self, name: &str) -> Option<&Atom> {
        self.types.get(name)
    }

    /// Looks a reference up; `None` for a name the schema lacks.
    pub fn resolve<'a>(&'a self, tr: &'a TypeRef) -> Option<Resolved<'a>> {
        let atom: &Atom = match &tr.target {
            Target::Named(n) => self.types.get(&**n)?,
            Target::Inline(a) => a,
        };
        if !tr.force_atomic {
            return Some(Resolved {
                atom: Cow::Borrowed(atom),
            });
        }
        let mut forced = atom.clone();
        if let Some(l) = forced.list.as_mut() {
            l.kind = ListKind::Atomic;
        }
        if let Some(m) = forced.map.as_mut() {
            m.atomic = true;
        }
        Some(Resolved {
            atom: Cow::Owned(forced),
        })
    }
}
