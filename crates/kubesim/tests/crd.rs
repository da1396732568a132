//! Custom resources: a CRD applied with kubectl is established and served live, its
//! objects round-trip through server-side and client-side apply, strategic merge patches
//! are refused with 415, and deleting the CRD removes its objects.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Kubectl, each_client};

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
              mode:
                type: string
                default: fast
              tags:
                type: array
                items:
                  type: string
                x-kubernetes-list-type: set
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
";

const WIDGET: &str = "apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
  tags: [a, b]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_established_then_custom_resources_round_trip() {
    each_client(async |k: &Kubectl, _c| {
        k.file("crd.yaml", CRD);
        k.file("w.yaml", WIDGET);
        k.ok(&["apply", "--server-side", "-f", "crd.yaml"]);
        let out = k.ok(&[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
            "--timeout=20s",
        ]);
        assert!(out.contains("condition met"), "{out}");
        let resources = k.ok(&["api-resources", "--api-group=example.com"]);
        assert!(resources.contains("widgets"), "{resources}");
        assert!(resources.contains("wd"), "{resources}");

        let out = k.ok(&["apply", "--server-side", "-f", "w.yaml"]);
        assert!(out.contains("serverside-applied"), "{out}");
        let got: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "wd", "w1", "-o", "json"])).unwrap();
        assert_eq!(got["spec"]["size"], 3);
        assert_eq!(got["spec"]["mode"], "fast", "defaulted from the schema");
        assert_eq!(got["metadata"]["generation"], 1);

        // Unknown fields: refused under Strict (kubectl's default), pruned when validation is
        // off (server-side apply refuses them outright, as the real server's typed merge does).
        k.file("junk.yaml", &format!("{WIDGET}  junk: 1\n"));
        let err = k.fails(&["apply", "--server-side", "-f", "junk.yaml"]);
        assert!(err.contains("unknown field \"spec.junk\""), "{err}");
        k.file(
            "junk2.yaml",
            &format!("{}  junk: 1\n", WIDGET.replace("name: w1", "name: w2")),
        );
        k.ok(&["create", "--validate=false", "-f", "junk2.yaml"]);
        let got: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "wd", "w2", "-o", "json"])).unwrap();
        assert_eq!(got["spec"]["mode"], "fast");
        assert!(got["spec"].get("junk").is_none(), "pruned: {got}");

        // Client-side apply of a custom resource goes as a merge patch.
        k.file("w2.yaml", &WIDGET.replace("size: 3", "size: 4"));
        k.ok(&["apply", "-f", "w2.yaml"]);
        let got: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "widget", "w1", "-o", "json"])).unwrap();
        assert_eq!(got["spec"]["size"], 4);
        assert_eq!(got["metadata"]["generation"], 2);

        let err = k.fails(&[
            "patch",
            "wd",
            "w1",
            "--type=strategic",
            "-p",
            r#"{"spec":{"size":5}}"#,
        ]);
        assert!(
            err.contains("not supported") || err.contains("UnsupportedMediaType"),
            "{err}"
        );

        k.ok(&["delete", "crd", "widgets.example.com"]);
        let err = k.fails(&[
            "get",
            "--raw",
            "/apis/example.com/v1/namespaces/default/widgets",
        ]);
        assert!(
            err.contains("NotFound") || err.contains("not found"),
            "{err}"
        );
    })
    .await;
}

/// kube-rs controllers write custom resources' status with server-side apply on the status
/// subresource; each side leaves the other alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_subresource_apply_with_kube_rs() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
    use kube::config::{KubeConfigOptions, Kubeconfig};
    use serde_json::json;

    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let kc = Kubeconfig::from_yaml(&cluster.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: serde_json::Value =
        serde_json::to_value(serde_saphyr::from_str::<serde_json::Value>(CRD).unwrap()).unwrap();
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("test"),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    let established = crds.get("widgets.example.com").await.unwrap();
    let conditions = established.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let spec = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": 1}});
    widgets
        .patch("w", &PatchParams::apply("author"), &Patch::Apply(&spec))
        .await
        .unwrap();
    let status = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "status": {"ready": true}, "spec": {"size": 99}});
    let after = widgets
        .patch_status(
            "w",
            &PatchParams::apply("controller"),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(after.data["status"]["ready"], true);
    assert_eq!(
        after.data["spec"]["size"], 1,
        "a status apply leaves spec alone"
    );
    assert_eq!(after.metadata.generation, Some(1));
    let managers: Vec<(String, Option<String>)> = after
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| (m.manager.unwrap(), m.subresource))
        .collect();
    assert!(
        managers.contains(&("controller".to_string(), Some("status".to_string()))),
        "{managers:?}"
    );

    // Re-applying the spec keeps the status.
    let mut spec2 = spec.clone();
    spec2["spec"]["size"] = json!(2);
    let after = widgets
        .patch("w", &PatchParams::apply("author"), &Patch::Apply(&spec2))
        .await
        .unwrap();
    assert_eq!(after.data["status"]["ready"], true);
    assert_eq!(after.data["spec"]["size"], 2);
    assert_eq!(after.metadata.generation, Some(2));
}
