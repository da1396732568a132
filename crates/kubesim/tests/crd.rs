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
