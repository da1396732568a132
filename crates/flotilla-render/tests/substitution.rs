//! `${var}` substitution of a real kustomize build, per Cluster API cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::collections::BTreeMap;

use common::{kustomize, repo, spec};
use flotilla_api::common::ValuesKind;
use flotilla_render::{
    BuiltManifests, ClusterInfo, ObjectSet, PostBuildVariables, Strictness, VariableSource,
};
use serde_json::{Value, json};

const SECRET_TOKEN: &str = "tok-7f3a9c-DO-NOT-LEAK";

fn capi_cluster() -> ClusterInfo {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster.yaml");
    let cluster: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    ClusterInfo::from_object(&cluster).unwrap()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn sources() -> Vec<VariableSource> {
    vec![
        VariableSource {
            kind: ValuesKind::ConfigMap,
            name: "fleet-defaults".into(),
            data: map(&[("replicas", "4"), ("version", "0.9.0")]),
        },
        VariableSource {
            kind: ValuesKind::Secret,
            name: "web-credentials".into(),
            data: map(&[("api_token", SECRET_TOKEN)]),
        },
    ]
}

fn substitute() -> BTreeMap<String, String> {
    map(&[
        ("version", "1.4.2"),
        (
            "host",
            "web.${cluster_name}.${cluster_label_env}.example.com",
        ),
        ("quote", "\""),
    ])
}

async fn built() -> BuiltManifests {
    kustomize()
        .build(&repo(), &spec(json!({"path": "substitution"})))
        .await
        .unwrap()
}

fn find<'a>(set: &'a ObjectSet, kind: &str) -> &'a Value {
    &set.iter().find(|o| o.id.kind == kind).unwrap().value
}

#[tokio::test]
async fn a_capi_cluster_renders_with_its_variables() {
    let cluster = capi_cluster();
    assert_eq!(cluster.name, "eu-west-prod-1");
    assert_eq!(cluster.namespace, "fleet-prod");
    let post = PostBuildVariables::new(&substitute(), &sources()).unwrap();
    let vars = post.for_cluster(&cluster).unwrap();
    let set = built()
        .await
        .for_cluster(&vars, Strictness::Strict)
        .unwrap();

    let deployment = find(&set, "Deployment");
    assert_eq!(
        deployment["metadata"]["namespace"],
        json!("apps"),
        "default"
    );
    assert_eq!(
        deployment["metadata"]["labels"]["region"],
        json!("eu-west-1")
    );
    assert_eq!(
        deployment["metadata"]["labels"]["owner"],
        json!("team-payments")
    );
    assert_eq!(
        deployment["spec"]["replicas"],
        json!(4),
        "an integer, from the ConfigMap"
    );
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        json!("registry.example.com/web:1.4.2"),
        "substitute wins over substituteFrom"
    );
    assert_eq!(container["ports"][0]["containerPort"], json!(8080));
    let env: BTreeMap<&str, &Value> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), &e["value"]))
        .collect();
    assert_eq!(env["CLUSTER"], &json!("eu-west-prod-1"));
    assert_eq!(env["PORT"], &json!("8080"), "kept a string by ${{quote}}");
    assert_eq!(env["API_TOKEN"], &json!(SECRET_TOKEN));
    assert_eq!(
        env["TEMPLATE"],
        &json!("${not_substituted}"),
        "$${{…}} escapes"
    );

    let ingress = find(&set, "Ingress");
    assert_eq!(
        ingress["spec"]["rules"][0]["host"],
        json!("web.eu-west-prod-1.prod.example.com"),
        "a substitute value using per-cluster variables"
    );
    assert_eq!(
        set.iter()
            .find(|o| o.id.kind == "Ingress")
            .unwrap()
            .id
            .to_string(),
        "Ingress.networking.k8s.io/apps/web"
    );

    let script = find(&set, "ConfigMap");
    assert!(
        script["data"]["entrypoint.sh"]
            .as_str()
            .unwrap()
            .contains("--cluster \"${cluster_name}\""),
        "opted out by annotation"
    );
}

#[tokio::test]
async fn strict_mode_names_the_variable_and_the_object() {
    let post = PostBuildVariables::new(&map(&[("quote", "\"")]), &sources()[1..]).unwrap();
    let vars = post.for_cluster(&capi_cluster()).unwrap();
    let built = built().await;
    let err = built.for_cluster(&vars, Strictness::Strict).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("\"version\""), "{message}");
    assert!(message.starts_with("Deployment.apps/"), "{message}");
    assert!(message.contains("/web: "), "{message}");
    assert!(!message.contains(SECRET_TOKEN));
    assert!(!format!("{err:?}").contains(SECRET_TOKEN));

    // Flux's default: an undefined variable becomes empty.
    let set = built.for_cluster(&vars, Strictness::Lenient).unwrap();
    assert_eq!(
        find(&set, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("registry.example.com/web:")
    );
    assert_eq!(
        find(&set, "Ingress")["spec"]["rules"][0]["host"],
        Value::Null
    );
}

#[tokio::test]
async fn secret_values_stay_out_of_every_error() {
    let cluster = capi_cluster();
    let built = built().await;
    let mut failures = Vec::new();

    // A Secret key that cannot be a variable.
    let mut bad_key = sources();
    bad_key[1]
        .data
        .insert("bad-key".into(), SECRET_TOKEN.into());
    failures.push(format!(
        "{:?} {}",
        PostBuildVariables::new(&substitute(), &bad_key).unwrap_err(),
        PostBuildVariables::new(&substitute(), &bad_key).unwrap_err()
    ));

    // A substitute value with an undefined variable, next to Secret variables.
    let post = PostBuildVariables::new(&map(&[("host", "${nope}")]), &sources()).unwrap();
    let err = post.for_cluster(&cluster).unwrap_err();
    failures.push(format!("{err:?} {err}"));

    // Strict failure with the Secret's variable in scope.
    let post = PostBuildVariables::new(&BTreeMap::new(), &sources()).unwrap();
    let vars = post.for_cluster(&cluster).unwrap();
    assert!(!format!("{vars:?}").contains(SECRET_TOKEN), "Debug redacts");
    let err = built.for_cluster(&vars, Strictness::Strict).unwrap_err();
    failures.push(format!("{err:?} {err}"));

    // Two objects whose names become the Secret's value collide.
    let collide = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"${api_token}\"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"${api_token:=x}\"}\n";
    let err = BuiltManifests::parse(collide, None)
        .unwrap()
        .for_cluster(&vars, Strictness::Strict)
        .unwrap_err();
    failures.push(format!("{err:?} {err}"));

    assert_eq!(failures.len(), 4);
    for failure in &failures {
        assert!(!failure.contains(SECRET_TOKEN), "{failure}");
    }
    assert!(
        failures[0].contains("Secret/web-credentials"),
        "{}",
        failures[0]
    );
    assert!(failures[3].contains("${api_token}"), "{}", failures[3]);
}

#[tokio::test]
async fn one_build_serves_a_thousand_clusters() {
    let built = built().await;
    let post = PostBuildVariables::new(&substitute(), &sources()).unwrap();
    let mut hosts = std::collections::BTreeSet::new();
    for i in 0..1000 {
        let cluster = ClusterInfo {
            name: format!("c{i:04}"),
            namespace: "fleet".into(),
            labels: map(&[
                ("env", if i % 2 == 0 { "prod" } else { "staging" }),
                ("topology.kubernetes.io/region", "us-east-2"),
            ]),
            annotations: BTreeMap::new(),
        };
        let set = built
            .for_cluster(&post.for_cluster(&cluster).unwrap(), Strictness::Strict)
            .unwrap();
        assert_eq!(set.len(), 3);
        let deployment = find(&set, "Deployment");
        assert_eq!(deployment["metadata"]["labels"]["owner"], json!("unknown"));
        assert_eq!(
            deployment["metadata"]["labels"]["region"],
            json!("us-east-2")
        );
        hosts.insert(
            find(&set, "Ingress")["spec"]["rules"][0]["host"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(hosts.len(), 1000, "every cluster gets its own host");
    assert!(hosts.contains("web.c0001.staging.example.com"));
}
