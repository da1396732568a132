//! Immutable fields of built-in kinds, refused as kube-apiserver 1.35 refuses them (422
//! Invalid with the server's wording and causes), through kube-rs and the real kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod api_common;
mod common;

use api_common::{api_status, client};
use common::{Kubectl, each_client};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

fn api(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(client.clone(), "default", &ar)
}

async fn apply(
    api: &Api<DynamicObject>,
    name: &str,
    body: Value,
) -> Result<DynamicObject, kube::Error> {
    api.patch(name, &PatchParams::apply("flotilla"), &Patch::Apply(body))
        .await
}

fn deployment(selector: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": selector}},
            "template": {"metadata": {"labels": {"app": selector}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_sees_immutable_fields_refused() {
    let fleet = common::start_one(true).await;
    let c = client(&fleet.clusters()[0]).await;

    // Deployment: the selector is frozen, the rest is not; a refused write stores nothing.
    let deploys = api(&c, "apps", "v1", "Deployment", "deployments");
    let created = apply(&deploys, "web", deployment("web")).await.unwrap();
    // The simulated controllers write the Deployment's status and revision annotation;
    // the refused write must leave its spec and generation as they were.
    let spec = created.data["spec"].clone();
    let s = api_status(
        apply(&deploys, "web", deployment("web2"))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        s.message,
        r#"Deployment.apps "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"web2"}}: field is immutable"#
    );
    let details = s.details.unwrap();
    assert_eq!(details.causes[0].field, "spec.selector");
    assert_eq!(details.causes[0].reason, "FieldValueInvalid");
    assert_eq!(details.kind, "Deployment");
    let live = deploys.get("web").await.unwrap();
    assert_eq!(live.data["spec"], spec);
    assert_eq!(live.metadata.generation, Some(1));
    let mut scaled = deployment("web");
    scaled["spec"]["replicas"] = json!(3);
    apply(&deploys, "web", scaled).await.unwrap();

    // Job: its pod template cannot change once created (not suspended).
    let jobs = api(&c, "batch", "v1", "Job", "jobs");
    let job = |image: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "m", "image": image}]}}}})
    };
    apply(&jobs, "migrate", job("migrate:1")).await.unwrap();
    let s = api_status(apply(&jobs, "migrate", job("migrate:2")).await.unwrap_err());
    assert_eq!(s.code, 422);
    assert!(
        s.message
            .starts_with(r#"Job.batch "migrate" is invalid: spec.template: Invalid value: {"#)
            && s.message.ends_with("}: field is immutable")
            && s.message.contains("migrate:2"),
        "{}",
        s.message
    );

    // Service: the cluster IP may not change once set; leaving it out keeps it.
    let services = api(&c, "", "v1", "Service", "services");
    let svc = |ip: Option<&str>| {
        let mut v = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
        if let Some(ip) = ip {
            v["spec"]["clusterIP"] = json!(ip);
        }
        v
    };
    apply(&services, "web", svc(Some("10.96.7.7")))
        .await
        .unwrap();
    let s = api_status(
        apply(&services, "web", svc(Some("10.96.8.8")))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        s.message,
        r#"Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.8.8"]: may not change once set"#
    );
    let mut other = api(&c, "", "v1", "Service", "services");
    other = other.clone();
    let kept = other
        .patch(
            "web",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"ports": [{"port": 80}]}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(kept.data["spec"]["clusterIP"], "10.96.7.7");

    // StatefulSet: only the rollout fields may change.
    let sts = api(&c, "apps", "v1", "StatefulSet", "statefulsets");
    let set = |service: &str| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"serviceName": service, "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "db", "image": "pg:17"}]}}}})
    };
    apply(&sts, "db", set("db")).await.unwrap();
    let s = api_status(apply(&sts, "db", set("db2")).await.unwrap_err());
    assert_eq!(
        s.message,
        "StatefulSet.apps \"db\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    );
    assert_eq!(s.details.unwrap().causes[0].reason, "FieldValueForbidden");

    // PersistentVolumeClaim: only the requests may change.
    let pvcs = api(
        &c,
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
    );
    let claim = |class: &str, size: &str| {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}}}})
    };
    apply(&pvcs, "data", claim("fast", "1Gi")).await.unwrap();
    apply(&pvcs, "data", claim("fast", "2Gi")).await.unwrap();
    let s = api_status(
        apply(&pvcs, "data", claim("slow", "2Gi"))
            .await
            .unwrap_err(),
    );
    assert!(
        s.message.starts_with(
            "PersistentVolumeClaim \"data\" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests"
        ),
        "{}",
        s.message
    );
    fleet.shutdown().await;
}

const IMMUTABLE_CM: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: frozen
immutable: true
data:
  a: \"1\"
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reports_immutable_configmaps_and_selectors() {
    each_client(async |k: &Kubectl, _c| {
        k.file("cm.yaml", IMMUTABLE_CM);
        k.ok(&["apply", "-f", "cm.yaml"]);
        k.file("cm.yaml", &IMMUTABLE_CM.replace("\"1\"", "\"2\""));
        let err = k.fails(&["apply", "-f", "cm.yaml"]);
        assert!(
            err.contains("The ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"),
            "{err}"
        );
        let err = k.fails(&["apply", "--server-side", "-f", "cm.yaml"]);
        assert!(err.contains("data: Forbidden: field is immutable when `immutable` is set"), "{err}");
        // Labels are not frozen.
        k.ok(&["label", "cm", "frozen", "team=a"]);
        let got: Value = serde_json::from_str(&k.ok(&["get", "cm", "frozen", "-o", "json"])).unwrap();
        assert_eq!(got["data"]["a"], "1");

        let d = serde_json::to_string(&deployment("web")).unwrap();
        k.file("d.json", &d);
        k.ok(&["apply", "-f", "d.json"]);
        k.file("d.json", &serde_json::to_string(&deployment("other")).unwrap());
        let err = k.fails(&["apply", "-f", "d.json"]);
        assert!(
            err.contains(r#"The Deployment "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"other"}}: field is immutable"#),
            "{err}"
        );
    })
    .await;
}
