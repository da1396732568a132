//! Helm 4 against kubesim for the parts the HTTP layer carries: server-side-apply installs,
//! protobuf release Secrets, upgrade, history, `--wait` (streaming lists or their 422
//! fallback) and uninstall with protobuf DeleteOptions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;
mod helm_common;

use helm_common::ok;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_upgrade_history_uninstall() {
    common::each_client(async |k: &common::Kubectl, _c| {
        std::fs::create_dir_all(k.path().join("chart/templates")).unwrap();
        k.file("chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
        k.file(
            "chart/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\ndata:\n  a: \"1\"\n",
        );
        let out = ok(k, &["install", "web", "./chart", "-n", "app", "--create-namespace", "--wait", "--timeout=30s"]);
        assert!(out.contains("STATUS: deployed"), "{out}");
        let secret: serde_json::Value = serde_json::from_str(&k.ok(&[
            "get", "secret", "sh.helm.release.v1.web.v1", "-n", "app", "-o", "json",
        ]))
        .unwrap();
        assert_eq!(secret["type"], "helm.sh/release.v1");
        assert_eq!(secret["metadata"]["labels"]["owner"], "helm");
        assert_eq!(secret["metadata"]["labels"]["name"], "web");
        assert_eq!(secret["metadata"]["labels"]["status"], "deployed");
        let managers = k.ok(&[
            "get", "cm", "web-cfg", "-n", "app", "-o",
            "jsonpath={.metadata.managedFields[*].manager}", "--show-managed-fields",
        ]);
        assert_eq!(managers, "helm", "helm installs with server-side apply");

        let out = ok(k, &["upgrade", "web", "./chart", "-n", "app"]);
        assert!(out.contains("REVISION: 2"), "{out}");
        let history = ok(k, &["history", "web", "-n", "app"]);
        assert!(history.contains("superseded") && history.contains("deployed"), "{history}");
        let list = ok(k, &["list", "-A"]);
        assert!(list.contains("web") && list.contains("deployed"), "{list}");

        ok(k, &["uninstall", "web", "-n", "app", "--wait", "--timeout=30s"]);
        let left = k.ok(&["get", "secrets,cm", "-n", "app", "-o", "name"]);
        assert!(left.trim().is_empty(), "{left}");
    })
    .await;
}
