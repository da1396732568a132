//! The generated CRDs and the examples, as a user meets them: the real kubectl against an
//! API server (kubesim, over HTTPS with a kubeconfig).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};
use kubesim::{Fleet, FleetConfig};

fn manifests(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../manifests")
        .join(dir)
}

/// Runs kubectl with `args`; returns stdout, or an error with everything it printed.
fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let binary = flotilla_testkit::tools::kubectl()?;
    let output = Command::new(&binary)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success(),
        "kubectl {} failed:\n{stdout}{stderr}",
        args.join(" ")
    );
    Ok(stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_installs_the_crds_and_accepts_every_example() -> anyhow::Result<()> {
    let fleet = Fleet::start(FleetConfig::with_clusters(1)).await?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = fleet.clusters()[0].write_kubeconfig(dir.path())?;
    let crds = manifests("crds");
    let crds = crds.to_str().context("utf-8 path")?;

    let dry_run = kubectl(&kubeconfig, &["apply", "--dry-run=client", "-f", crds])?;
    assert_eq!(dry_run.matches("created (dry run)").count(), 7, "{dry_run}");

    let applied = kubectl(&kubeconfig, &["apply", "--server-side", "-f", crds])?;
    assert_eq!(
        applied.matches("serverside-applied").count(),
        7,
        "{applied}"
    );
    kubectl(
        &kubeconfig,
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=30s",
        ],
    )?;

    kubectl(&kubeconfig, &["create", "namespace", "fleet"])?;
    let examples = manifests("examples");
    let examples = examples.to_str().context("utf-8 path")?;
    let applied = kubectl(&kubeconfig, &["apply", "--server-side", "-f", examples])?;
    assert_eq!(
        applied.matches("serverside-applied").count(),
        7,
        "{applied}"
    );

    // The category puts every kind behind one name.
    let listed = kubectl(&kubeconfig, &["get", "flotilla", "-A", "-o", "name"])?;
    assert_eq!(listed.lines().count(), 7, "{listed}");
    for short in ["gitrepo", "helmrepo", "ocirepo", "ks", "hr", "csync"] {
        kubectl(&kubeconfig, &["get", short, "-n", "fleet"])?;
    }

    // The schemas are strict: an unknown field is refused with its path.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: flotilla.dev/v1alpha1\nkind: GitRepository\n\
         metadata: {name: bad, namespace: fleet}\n\
         spec: {url: 'https://example.com/x.git', interval: 5m, branchh: main}\n",
    )?;
    let refused = kubectl(
        &kubeconfig,
        &["create", "-f", bad.to_str().context("utf-8")?],
    )
    .err()
    .context("kubectl accepted an unknown field")?;
    assert!(
        refused
            .to_string()
            .contains(r#"unknown field "spec.branchh""#),
        "{refused:#}"
    );

    fleet.shutdown().await;
    Ok(())
}
