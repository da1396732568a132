//! Cold applies only, round after round, on one kubesim cluster: the loop behind the
//! cold-apply figures of `apply_vs_kubectl`, for profiling (`perf record`, `strace -c`)
//! and for alternating runs of two builds.
//!
//! ```sh
//! cargo bench -p flotilla-apply --bench cold_apply_loop [-- ROUNDS [CONCURRENCY]]
//! ```
//!
//! Each round applies `apply_vs_kubectl`'s 500 objects into a fresh namespace with a new
//! applier (default options but the requests in flight) and prints each round's wall
//! time; at the end, the median and minimum wall time and the process's CPU time per
//! apply (every thread's on-CPU time from `/proc/self/task/*/schedstat`, kubesim's and
//! the client's together). Like `apply_vs_kubectl`, the process allocates with mimalloc.

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use flotilla_apply::{Action, Applier, ApplyOptions, Owner};

mod common;

/// mimalloc, as in the hub and kubesim binaries this process stands for.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OBJECTS: usize = 500;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = common::args::<usize>()?;
    let rounds = args.first().copied().unwrap_or(20);
    let concurrency = args
        .get(1)
        .copied()
        .unwrap_or(ApplyOptions::default().concurrency);
    ensure!(rounds > 0, "at least one round");

    let (fleet, client) = common::cluster().await?;
    let mut walls = Vec::with_capacity(rounds);
    let mut cpus = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let namespace = format!("cold-{round}");
        common::create_namespace(&client, &namespace).await?;
        let set = common::object_set(OBJECTS, &namespace)?;
        let owner = Owner {
            kind: "Kustomization".into(),
            namespace: "fleet".into(),
            name: format!("loop-{round}"),
        };
        let applier = Applier::new(client.clone(), owner).with_options(ApplyOptions {
            concurrency,
            ..ApplyOptions::default()
        });
        let cpu_before = process_cpu_ms()?;
        let started = Instant::now();
        let report = applier.apply(&set).await?;
        let wall = started.elapsed().as_secs_f64() * 1e3;
        cpus.push(process_cpu_ms()? - cpu_before);
        ensure!(
            report.count(Action::Created) == OBJECTS,
            "round {round} created {} of {OBJECTS}",
            report.count(Action::Created)
        );
        eprintln!("round {round}: {wall:.1} ms");
        walls.push(wall);
    }
    walls.sort_by(f64::total_cmp);
    cpus.sort_by(f64::total_cmp);
    println!(
        "{rounds} cold applies of {OBJECTS} objects, {concurrency} in flight: \
         wall median {:.1} ms, min {:.1} ms; process CPU median {:.1} ms, min {:.1} ms",
        walls[rounds / 2],
        walls[0],
        cpus[rounds / 2],
        cpus[0]
    );
    fleet.shutdown().await;
    Ok(())
}

/// The on-CPU time so far of the process's live threads, in ms. Threads that exited
/// are not counted, so a blocking-pool thread ending mid-round can only lower a figure.
fn process_cpu_ms() -> Result<f64> {
    let mut nanoseconds = 0u64;
    for task in std::fs::read_dir("/proc/self/task").context("reading /proc/self/task")? {
        let Ok(stat) = std::fs::read_to_string(task?.path().join("schedstat")) else {
            continue; // the thread exited meanwhile
        };
        let on_cpu = stat
            .split_whitespace()
            .next()
            .context("an empty schedstat")?;
        nanoseconds += on_cpu.parse::<u64>().context("a schedstat field")?;
    }
    Ok(nanoseconds as f64 / 1e6)
}
