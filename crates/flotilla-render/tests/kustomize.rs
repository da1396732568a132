//! kustomize builds of real trees, compared with `kubectl kustomize` itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{kubectl, kustomize, repo, spec};
use flotilla_render::{BuildError, Kustomize, ObjectSet, Strictness, Variables};
use serde_json::{Value, json};

/// Renders with no variables: the fixtures used here have no placeholders.
fn objects(built: &flotilla_render::BuiltManifests) -> ObjectSet {
    built
        .for_cluster(&Variables::default(), Strictness::Strict)
        .expect("no placeholders")
}

fn values(set: &ObjectSet) -> Vec<Value> {
    set.iter().map(|o| o.value.clone()).collect()
}

fn ids(set: &ObjectSet) -> Vec<String> {
    set.iter().map(|o| o.id.to_string()).collect()
}

/// A copy of the fixture repository that a test may change.
fn scratch_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo(), dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every file under `dir` with its content, to show a build wrote nothing.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.display().to_string(), fs::read(&path).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn overlay_with_base_component_patch_and_images_matches_kubectl() {
    let built = kustomize()
        .build(&repo(), &spec(json!({"path": "./apps/overlays/prod"})))
        .await
        .unwrap();
    let set = objects(&built);
    assert_eq!(
        values(&set),
        kubectl_kustomize(&repo().join("apps/overlays/prod"))
    );
    // The fixture exercises what it claims to: patch, image, component, generator hash.
    let deployment = &set
        .iter()
        .find(|o| o.id.kind == "Deployment")
        .unwrap()
        .value;
    assert_eq!(deployment["spec"]["replicas"], json!(3));
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("nginx:1.27")
    );
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"],
        json!("true")
    );
    assert_eq!(
        ids(&set),
        [
            "ConfigMap/prod/web-config-hf678c7m2b",
            "Service/prod/web",
            "Deployment.apps/prod/web",
            "ServiceMonitor.monitoring.coreos.com/prod/web",
        ]
    );
}

#[tokio::test]
async fn deployer_fields_match_a_hand_written_overlay() {
    let patch_smp =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 5\n";
    let patch_json = "- op: replace\n  path: /spec/ports/0/port\n  value: 8081\n";
    let fields = json!({
        "path": "apps/base",
        "targetNamespace": "team-a",
        "namePrefix": "a-",
        "nameSuffix": "-v2",
        "patches": [
            {"patch": patch_smp},
            {"patch": patch_json, "target": {"kind": "Service", "name": "web"}},
        ],
        "images": [
            {"name": "nginx", "newName": "mirror.example.com/nginx", "newTag": "1.27.1"},
            {"name": "ghcr.io/example/proxy", "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        ],
        "components": ["../../components/monitoring"],
    });
    let built = kustomize().build(&repo(), &spec(fields)).await.unwrap();
    let set = objects(&built);

    // The same overlay written by hand inside a copy of the artifact, built by kubectl
    // (kustomize refuses absolute bases).
    let artifact = scratch_repo();
    let hand = artifact.path().join("hand");
    fs::create_dir(&hand).unwrap();
    let kustomization = json!({
        "resources": ["../apps/base"],
        "components": ["../components/monitoring"],
        "namespace": "team-a",
        "namePrefix": "a-",
        "nameSuffix": "-v2",
        "patches": [
            {"patch": patch_smp},
            {"patch": patch_json, "target": {"kind": "Service", "name": "web"}},
        ],
        "images": [
            {"name": "nginx", "newName": "mirror.example.com/nginx", "newTag": "1.27.1"},
            {"name": "ghcr.io/example/proxy", "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        ],
    });
    fs::write(hand.join("kustomization.yaml"), kustomization.to_string()).unwrap();
    assert_eq!(values(&set), kubectl_kustomize(&hand));

    let deployment = &set.iter().find(|o| o.id.kind == "Deployment").unwrap();
    assert_eq!(deployment.id.to_string(), "Deployment.apps/team-a/a-web-v2");
    let pod = &deployment.value["spec"]["template"]["spec"];
    let config_map = &set
        .iter()
        .find(|o| o.id.kind == "ConfigMap")
        .unwrap()
        .id
        .name;
    assert!(config_map.starts_with("a-web-config-v2-"), "{config_map}");
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        json!(config_map),
        "name references follow the prefix and suffix"
    );
    assert_eq!(
        pod["containers"][1]["image"],
        json!(
            "ghcr.io/example/proxy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        )
    );
    assert_eq!(deployment.value["spec"]["replicas"], json!(5));
}

#[tokio::test]
async fn plain_directory_gets_a_generated_kustomization_and_the_artifact_is_untouched() {
    let before = snapshot(&repo());
    let built = kustomize()
        .build(&repo(), &spec(json!({"path": "plain"})))
        .await
        .unwrap();
    assert_eq!(
        snapshot(&repo()),
        before,
        "nothing written into the artifact"
    );
    let set = objects(&built);
    // values.yaml and README.md skipped; nested/ built through its own kustomization, so
    // its unlisted manifest stays out. The order is kustomize's (kinds, then input order).
    assert_eq!(
        ids(&set),
        [
            "Namespace/plain",
            "ConfigMap/plain/one",
            "ConfigMap/plain/two",
            "Secret/plain/nested",
        ]
    );
    // The kustomization a user would have written gives exactly the same objects.
    let artifact = scratch_repo();
    fs::write(
        artifact.path().join("plain/kustomization.yaml"),
        "resources: [namespace.yaml, nested, sub/configmaps.yml]\n",
    )
    .unwrap();
    assert_eq!(
        values(&set),
        kubectl_kustomize(&artifact.path().join("plain"))
    );
}

#[tokio::test]
async fn common_metadata_lands_on_every_object_only() {
    let built = kustomize()
        .build(
            &repo(),
            &spec(json!({
                "path": "apps/base",
                "commonMetadata": {"labels": {"team": "a"}, "annotations": {"owner": "platform"}},
            })),
        )
        .await
        .unwrap();
    let set = objects(&built);
    assert_eq!(set.len(), 3);
    for object in &set {
        assert_eq!(object.value["metadata"]["labels"]["team"], json!("a"));
        assert_eq!(
            object.value["metadata"]["annotations"]["owner"],
            json!("platform")
        );
    }
    let deployment = &set
        .iter()
        .find(|o| o.id.kind == "Deployment")
        .unwrap()
        .value;
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"].get("team"),
        None,
        "selectors are left alone"
    );
}

#[tokio::test]
async fn paths_leaving_the_artifact_are_refused() {
    for fields in [
        json!({"path": "../fixtures"}),
        json!({"path": "/etc"}),
        json!({"path": "apps/../../x"}),
        json!({"path": "apps/base", "components": ["../../../outside"]}),
    ] {
        let err = kustomize()
            .build(&repo(), &spec(fields.clone()))
            .await
            .unwrap_err();
        assert!(matches!(err, BuildError::PathEscapes(_)), "{fields}: {err}");
        assert!(err.to_string().contains("leaves the artifact"), "{err}");
    }
    let err = kustomize()
        .build(&repo(), &spec(json!({"path": "apps/missing"})))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "path \"apps/missing\" is not a directory in the artifact"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_out_of_the_artifact_are_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(
        outside.path().join("stolen.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  k: hub-private\n",
    )
    .unwrap();
    let artifact = scratch_repo();
    let app = artifact.path().join("apps/leaky");
    fs::create_dir_all(&app).unwrap();
    std::os::unix::fs::symlink(outside.path().join("stolen.yaml"), app.join("stolen.yaml"))
        .unwrap();
    fs::write(app.join("kustomization.yaml"), "resources: [stolen.yaml]\n").unwrap();

    let err = kustomize()
        .build(artifact.path(), &spec(json!({"path": "apps/leaky"})))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, BuildError::Kustomize { .. }), "{message}");
    assert!(message.contains("apps/leaky/stolen.yaml"), "{message}");
    assert!(!message.contains("hub-private"));

    // A generated kustomization does not pick it up either.
    fs::remove_file(app.join("kustomization.yaml")).unwrap();
    fs::write(
        app.join("own.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\n",
    )
    .unwrap();
    let built = kustomize()
        .build(artifact.path(), &spec(json!({"path": "apps/leaky"})))
        .await
        .unwrap();
    assert_eq!(ids(&objects(&built)), ["ConfigMap/own"]);
}

#[tokio::test]
async fn kustomizations_cannot_read_files_outside_their_root_or_run_helm() {
    let outside = tempfile::tempdir().unwrap();
    let private = outside.path().join("private.env");
    fs::write(&private, "TOKEN=hub-private-value\n").unwrap();
    let artifact = scratch_repo();
    let evil = artifact.path().join("apps/evil");
    fs::create_dir_all(&evil).unwrap();
    for (kustomization, reason) in [
        (
            json!({"configMapGenerator": [{"name": "x", "envs": [private]}]}),
            "is not in or below",
        ),
        (
            json!({"configMapGenerator": [{"name": "x", "files": ["../../apps/base/service.yaml"]}]}),
            "is not in or below",
        ),
        (
            json!({"helmCharts": [{"name": "podinfo", "repo": "https://stefanprodan.github.io/podinfo"}]}),
            "HelmChartInflationGenerator",
        ),
    ] {
        fs::write(evil.join("kustomization.yaml"), kustomization.to_string()).unwrap();
        let err = kustomize()
            .build(artifact.path(), &spec(json!({"path": "apps/evil"})))
            .await
            .unwrap_err();
        assert!(
            matches!(err, BuildError::Kustomize { .. }),
            "{kustomization}: {err}"
        );
        assert!(err.to_string().contains(reason), "{err}");
        assert!(!err.to_string().contains("hub-private-value"), "{err}");
    }
}

#[tokio::test]
async fn kustomize_errors_name_the_path_not_the_temporary_copy() {
    let artifact = scratch_repo();
    fs::write(
        artifact.path().join("apps/base/kustomization.yaml"),
        "resources: [deployment.yaml, missing.yaml]\n",
    )
    .unwrap();
    let err = kustomize()
        .build(artifact.path(), &spec(json!({"path": "./apps/base"})))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("kustomize build of path \"./apps/base\" failed: "),
        "{message}"
    );
    assert!(message.contains("missing.yaml"), "{message}");
    assert!(!message.contains("flotilla-render-"), "{message}");
}

#[tokio::test]
async fn duplicate_manifests_fail_the_build() {
    let artifact = scratch_repo();
    fs::copy(
        artifact.path().join("plain/namespace.yaml"),
        artifact.path().join("plain/sub/namespace-again.yaml"),
    )
    .unwrap();
    let err = kustomize()
        .build(artifact.path(), &spec(json!({"path": "plain"})))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("\"plain\""), "{message}");
    assert!(
        message.contains("Namespace") && message.contains("plain"),
        "{message}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_hung_kustomize_is_killed_at_the_timeout() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("kubectl");
    fs::write(&fake, "#!/bin/sh\nexec sleep 30\n").unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let kustomize = Kustomize {
        kubectl: fake,
        timeout: Duration::from_millis(300),
    };
    let started = std::time::Instant::now();
    let err = kustomize
        .build(&repo(), &spec(json!({"path": "apps/base"})))
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(err.to_string().contains("\"apps/base\""), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn kustomize_sees_none_of_the_hubs_environment_but_path() {
    use std::os::unix::fs::PermissionsExt;

    // cargo sets CARGO_PKG_NAME for this test process; the fake kubectl prints what it got.
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("kubectl");
    fs::write(&fake, "#!/bin/sh\nenv >&2\nexit 1\n").unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let err = Kustomize::new(fake)
        .build(&repo(), &spec(json!({"path": "apps/base"})))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("PATH="), "{message}");
    assert!(!message.contains("CARGO_PKG_NAME"), "{message}");
}

#[tokio::test]
async fn a_missing_kubectl_is_a_clear_error() {
    let err = Kustomize::new("/nonexistent/kubectl")
        .build(&repo(), &spec(json!({"path": "apps/base"})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/kubectl"), "{err}");
}

/// What `kubectl kustomize <dir>` prints, read by serde-saphyr (a different YAML reader
/// from the crate's own).
pub fn kubectl_kustomize(dir: &Path) -> Vec<Value> {
    let output = std::process::Command::new(kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        output.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    serde_saphyr::from_multiple::<Value>(&text)
        .expect("kubectl's YAML")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}
