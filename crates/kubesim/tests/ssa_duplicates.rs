//! Live objects may hold several list items with the same key (written by updates; the
//! API server accepts them there, but never in an applied configuration). Such an item is
//! owned and compared as one whole, and an apply that names it replaces the whole group.
//! Cases follow the behaviour of current structured-merge-diff.

use kubesim::ssa::schema::{
    Atom, ListKind, ListType, MapType, Scalar, Schema, StructField, TypeRef,
};
use kubesim::ssa::{ManagedFields, SsaError, Updater};
use serde_json::{Value, json};

fn schema() -> (Schema, TypeRef) {
    let f = |name: &str, s: Scalar| StructField {
        name: name.into(),
        ty: TypeRef::inline(Atom::scalar(s)),
        default: None,
    };
    let element = Atom::map(MapType::new(
        vec![
            f("name", Scalar::String),
            f("value1", Scalar::Numeric),
            f("value2", Scalar::Numeric),
        ],
        None,
        false,
    ));
    let list = |element: Atom, keys: &[&str]| {
        TypeRef::inline(Atom::list(ListType {
            element: TypeRef::inline(element),
            kind: ListKind::Associative,
            keys: keys.iter().map(|k| k.to_string()).collect(),
        }))
    };
    let mut s = Schema::new();
    s.insert(
        "root",
        Atom::map(MapType::new(
            vec![
                StructField {
                    name: "list".into(),
                    ty: list(element, &["name"]),
                    default: None,
                },
                StructField {
                    name: "set".into(),
                    ty: list(Atom::scalar(Scalar::Numeric), &[]),
                    default: None,
                },
                f("unrelated", Scalar::Numeric),
            ],
            None,
            false,
        )),
    );
    (s, TypeRef::named("root"))
}

enum Op {
    Update(&'static str, Value),
    Apply(&'static str, Value, bool),
}

struct Case {
    name: &'static str,
    ops: Vec<Op>,
    /// Conflicts (manager, path) of the last apply that failed, if any.
    conflicts: Vec<(&'static str, &'static str)>,
    object: Value,
    managers: Vec<(&'static str, Vec<&'static str>)>,
}

fn run(case: &Case) {
    let (schema, root) = schema();
    let updater = Updater {
        schema: &schema,
        root: &root,
        ignored: None,
    };
    let mut live = json!({});
    let mut managers = ManagedFields::new();
    let mut conflicts = Vec::new();
    for op in &case.ops {
        match op {
            Op::Update(m, obj) => {
                updater
                    .update(&live, obj, "v1", &mut managers, m)
                    .unwrap_or_else(|e| panic!("{}: {e}", case.name));
                live = obj.clone();
            }
            Op::Apply(m, obj, force) => {
                match updater.apply(&live, obj, "v1", managers.clone(), m, *force) {
                    Ok(a) => {
                        live = a.object.unwrap_or(live);
                        managers = a.managers;
                    }
                    Err(SsaError::Conflicts(c)) => {
                        conflicts =
                            c.0.iter()
                                .map(|c| (c.manager.clone(), c.path.to_string()))
                                .collect();
                    }
                    Err(e) => panic!("{}: {e}", case.name),
                }
            }
        }
    }
    let want: Vec<(String, String)> = case
        .conflicts
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(conflicts, want, "{}: conflicts", case.name);
    assert_eq!(live, case.object, "{}: object", case.name);
    let got: Vec<(String, Vec<String>)> = managers
        .iter()
        .map(|(m, vs)| {
            (
                m.clone(),
                vs.set.paths().iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    let mut want: Vec<(String, Vec<String>)> = case
        .managers
        .iter()
        .map(|(m, ps)| (m.to_string(), ps.iter().map(|p| p.to_string()).collect()))
        .collect();
    want.sort();
    assert_eq!(got, want, "{}: managers", case.name);
}

#[test]
fn duplicated_items_are_owned_and_replaced_whole() {
    let dup = json!({"list": [{"name": "a", "value1": 1}, {"name": "a", "value1": 2}, {"name": "b", "value1": 3}]});
    let cases = vec![
        Case {
            name: "an update with a repeated set value owns it once",
            ops: vec![Op::Update("u", json!({"set": [1, 1, 3, 4]}))],
            conflicts: vec![],
            object: json!({"set": [1, 1, 3, 4]}),
            managers: vec![("u", vec![".set", ".set[=1]", ".set[=3]", ".set[=4]"])],
        },
        Case {
            name: "removing a repetition changes the value's ownership",
            ops: vec![
                Op::Update("u1", json!({"set": [1, 1, 3, 4]})),
                Op::Update("u2", json!({"set": [1, 3, 4]})),
            ],
            conflicts: vec![],
            object: json!({"set": [1, 3, 4]}),
            managers: vec![
                ("u1", vec![".set", ".set[=3]", ".set[=4]"]),
                ("u2", vec![".set[=1]"]),
            ],
        },
        Case {
            name: "a duplicated list item is owned without its fields",
            ops: vec![Op::Update("u", dup.clone())],
            conflicts: vec![],
            object: dup.clone(),
            managers: vec![(
                "u",
                vec![
                    ".list",
                    ".list[name=\"a\"]",
                    ".list[name=\"b\"]",
                    ".list[name=\"b\"].name",
                    ".list[name=\"b\"].value1",
                ],
            )],
        },
        Case {
            name: "duplicating an item takes it, fields included, from its owner",
            ops: vec![
                Op::Update(
                    "u1",
                    json!({"list": [{"name": "a", "value1": 1}, {"name": "b", "value1": 3}]}),
                ),
                Op::Update(
                    "u2",
                    json!({"list": [{"name": "a", "value1": 1}, {"name": "a", "value2": 3}, {"name": "b", "value1": 3}]}),
                ),
            ],
            conflicts: vec![],
            object: json!({"list": [{"name": "a", "value1": 1}, {"name": "a", "value2": 3}, {"name": "b", "value1": 3}]}),
            managers: vec![
                (
                    "u1",
                    vec![
                        ".list",
                        ".list[name=\"b\"]",
                        ".list[name=\"b\"].name",
                        ".list[name=\"b\"].value1",
                    ],
                ),
                ("u2", vec![".list[name=\"a\"]"]),
            ],
        },
        Case {
            name: "applying a duplicated item conflicts on the whole item, force replaces the group",
            ops: vec![
                Op::Update("u", dup.clone()),
                Op::Apply("a", json!({"list": [{"name": "a", "value1": 3}]}), false),
                Op::Apply("a", json!({"list": [{"name": "a", "value1": 3}]}), true),
            ],
            conflicts: vec![("u", ".list[name=\"a\"]")],
            object: json!({"list": [{"name": "a", "value1": 3}, {"name": "b", "value1": 3}]}),
            managers: vec![
                (
                    "a",
                    vec![
                        ".list[name=\"a\"]",
                        ".list[name=\"a\"].name",
                        ".list[name=\"a\"].value1",
                    ],
                ),
                (
                    "u",
                    vec![
                        ".list",
                        ".list[name=\"b\"]",
                        ".list[name=\"b\"].name",
                        ".list[name=\"b\"].value1",
                    ],
                ),
            ],
        },
        Case {
            name: "applying other items leaves duplicates in place",
            ops: vec![
                Op::Update("u", dup.clone()),
                Op::Apply("a", json!({"list": [{"name": "b", "value1": 4}]}), true),
                Op::Apply("s", json!({"unrelated": 5}), false),
            ],
            conflicts: vec![],
            object: json!({"list": [{"name": "a", "value1": 1}, {"name": "a", "value1": 2}, {"name": "b", "value1": 4}], "unrelated": 5}),
            managers: vec![
                (
                    "a",
                    vec![
                        ".list[name=\"b\"]",
                        ".list[name=\"b\"].name",
                        ".list[name=\"b\"].value1",
                    ],
                ),
                ("s", vec![".unrelated"]),
                (
                    "u",
                    vec![
                        ".list",
                        ".list[name=\"a\"]",
                        ".list[name=\"b\"]",
                        ".list[name=\"b\"].name",
                    ],
                ),
            ],
        },
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn an_applied_configuration_may_not_repeat_a_key() {
    let (schema, root) = schema();
    let updater = Updater {
        schema: &schema,
        root: &root,
        ignored: None,
    };
    let err = updater
        .apply(
            &json!({}),
            &json!({"list": [{"name": "a"}, {"name": "a", "value1": 1}]}),
            "v1",
            ManagedFields::new(),
            "a",
            false,
        )
        .expect_err("rejected");
    assert_eq!(
        err.to_string(),
        ".list: duplicate entries for key [name=\"a\"]"
    );
}
