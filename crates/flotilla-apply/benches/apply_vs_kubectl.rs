//! Apply and diff of 500 objects on one kubesim cluster, Flotilla's engine side by side
//! with `kubectl apply --server-side` and `kubectl diff --server-side` of the same
//! objects (written as files) on the same server.
//!
//! ```sh
//! cargo bench -p flotilla-apply --bench apply_vs_kubectl [-- OBJECTS ROUNDS]
//! ```
//!
//! Each round uses two fresh namespaces, one per tool, so both applies are cold creates;
//! then both apply again unchanged, then both diff (unchanged). Flotilla's unchanged apply
//! and diff run three times: with the applier that applied (which remembers what it left
//! each object as, so untouched objects need no dry-run), with a new applier given that
//! memory as a snapshot through JSON (a restarted hub that stored it), and with a new
//! applier without it (a dry-run per object, compared with the listed live objects).
//! kubectl's times include its start-up (reading its discovery cache, OpenAPI), as a user
//! or a script pays them. The appliers of the cold and the same-applier rows share one
//! [`ApiDiscovery`], as a hub worker's for one cluster would, so that, like kubectl after
//! its first run, they do not discover every time; the restored and new appliers stand
//! for a restarted hub and discover afresh. kubesim runs in this process with its
//! simulated controllers off, so nothing else writes. The process allocates with
//! mimalloc, as the hub and `kubesim serve` binaries do. Medians over the rounds are
//! printed with the ratio kubectl / Flotilla.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use flotilla_apply::diff::CompareOptions;
use flotilla_apply::{Action, ApiDiscovery, Applier, Owner};

mod common;

use common::{create_namespace, object, object_set};

/// mimalloc, as in the hub and kubesim binaries this process stands for.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Writes the set as one JSON file per object, as a repository would hold them.
fn write_files(n: usize, namespace: &str, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for i in 0..n {
        std::fs::write(
            dir.join(format!("{i:03}.json")),
            serde_json::to_vec_pretty(&object(i, namespace))?,
        )?;
    }
    Ok(())
}

/// Runs kubectl, returning how long it took; `ok_codes` are the exit codes expected.
fn kubectl(kubeconfig: &Path, args: &[&str], ok_codes: &[i32]) -> Result<Duration> {
    let started = Instant::now();
    let output = Command::new(flotilla_testkit::tools::kubectl()?)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .context("running kubectl")?;
    let elapsed = started.elapsed();
    let code = output.status.code().unwrap_or(-1);
    if !ok_codes.contains(&code) {
        bail!(
            "kubectl {args:?} exited {code}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

#[derive(Default)]
struct Samples {
    flotilla: Vec<Duration>,
    kubectl: Vec<Duration>,
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = common::args::<usize>()?;
    let n = args.first().copied().unwrap_or(500);
    let rounds = args.get(1).copied().unwrap_or(3);

    let (fleet, client) = common::cluster().await?;
    let cluster = &fleet.clusters()[0];
    let dir = tempfile::tempdir()?;
    let kubeconfig = cluster.write_kubeconfig(dir.path())?;
    let discovery = ApiDiscovery::new(client.clone());
    let mut cold = Samples::default();
    let mut unchanged = Samples::default();
    let mut unchanged_restored = Samples::default();
    let mut unchanged_fresh = Samples::default();
    let mut diff = Samples::default();
    let mut diff_restored = Samples::default();
    let mut diff_fresh = Samples::default();
    for round in 0..rounds {
        let (ours, theirs) = (format!("flotilla-{round}"), format!("kubectl-{round}"));
        create_namespace(&client, &ours).await?;
        create_namespace(&client, &theirs).await?;
        let set = object_set(n, &ours)?;
        let files = dir.path().join(&theirs);
        write_files(n, &theirs, &files)?;
        let files = files.to_str().context("temp path")?;
        // A deployer per round, so each round's lists hold only its own objects.
        let owner = Owner {
            kind: "Kustomization".into(),
            namespace: "fleet".into(),
            name: format!("bench-{round}"),
        };
        let applier = Applier::new(client.clone(), owner.clone()).with_discovery(discovery.clone());

        let apply = ["apply", "--server-side", "-f", files];
        cold.kubectl.push(kubectl(&kubeconfig, &apply, &[0])?);
        let started = Instant::now();
        let report = applier.apply(&set).await?;
        cold.flotilla.push(started.elapsed());
        ensure!(
            report.count(Action::Created) == n,
            "cold apply created {} of {n}",
            report.count(Action::Created)
        );

        let version = cluster.resource_version();
        unchanged.kubectl.push(kubectl(&kubeconfig, &apply, &[0])?);
        ensure!(
            cluster.resource_version() == version,
            "kubectl's unchanged apply wrote"
        );
        let started = Instant::now();
        let report = applier.apply(&set).await?;
        unchanged.flotilla.push(started.elapsed());
        // What a hub would store with the inventory, read back after a restart.
        let stored = serde_json::to_vec(&applier.memory_snapshot())?;
        let started = Instant::now();
        let restored = Applier::new(client.clone(), owner.clone())
            .with_memory(serde_json::from_slice(&stored)?)?
            .apply(&set)
            .await?;
        unchanged_restored.flotilla.push(started.elapsed());
        let started = Instant::now();
        let fresh = Applier::new(client.clone(), owner.clone())
            .apply(&set)
            .await?;
        unchanged_fresh.flotilla.push(started.elapsed());
        for report in [report, restored, fresh] {
            ensure!(
                report.count(Action::Unchanged) == n,
                "second apply: {} of {n} unchanged",
                report.count(Action::Unchanged)
            );
        }
        ensure!(
            cluster.resource_version() == version,
            "an unchanged apply wrote"
        );

        // kubectl diff exits 0 when nothing differs, 1 when something does.
        let diff_files = ["diff", "--server-side", "-f", files];
        diff.kubectl.push(kubectl(&kubeconfig, &diff_files, &[0])?);
        let started = Instant::now();
        let report = applier.diff(&set, &CompareOptions::default()).await?;
        diff.flotilla.push(started.elapsed());
        let started = Instant::now();
        let restored = Applier::new(client.clone(), owner.clone())
            .with_memory(serde_json::from_slice(&stored)?)?
            .diff(&set, &CompareOptions::default())
            .await?;
        diff_restored.flotilla.push(started.elapsed());
        let started = Instant::now();
        let fresh = Applier::new(client.clone(), owner)
            .diff(&set, &CompareOptions::default())
            .await?;
        diff_fresh.flotilla.push(started.elapsed());
        for report in [report, restored, fresh] {
            ensure!(
                report.is_empty(),
                "diff of an unchanged set: {:?}",
                report.objects.first()
            );
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    unchanged_restored.kubectl = unchanged.kubectl.clone();
    unchanged_fresh.kubectl = unchanged.kubectl.clone();
    diff_restored.kubectl = diff.kubectl.clone();
    diff_fresh.kubectl = diff.kubectl.clone();

    println!("{n} objects, one kubesim cluster, median of {rounds} rounds");
    println!(
        "{:<39} {:>12} {:>12} {:>8}",
        "operation", "flotilla ms", "kubectl ms", "ratio"
    );
    for (name, samples) in [
        ("apply, cold", &mut cold),
        ("apply, unchanged", &mut unchanged),
        (
            "apply, unchanged, restored applier",
            &mut unchanged_restored,
        ),
        ("apply, unchanged, new applier", &mut unchanged_fresh),
        ("diff, unchanged", &mut diff),
        ("diff, unchanged, restored applier", &mut diff_restored),
        ("diff, unchanged, new applier", &mut diff_fresh),
    ] {
        let (ours, theirs) = (median(&mut samples.flotilla), median(&mut samples.kubectl));
        println!(
            "{name:<39} {:>12.1} {:>12.1} {:>7.1}x",
            ms(ours),
            ms(theirs),
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
    fleet.shutdown().await;
    Ok(())
}
