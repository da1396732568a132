//! Benchmark (not a test): memory per idle cluster.
//!
//! `cargo run --release -p kubesim --example fleet_memory -- 1000`
//!
//! Starts N clusters and reports the process's resident memory before and after (from
//! /proc/self/status). Request throughput against one cluster is the `throughput` example.

use anyhow::Context;
use kubesim::{Fleet, FleetConfig};
use std::time::Instant;

/// mimalloc, as in `kubesim serve`, whose costs this example stands for.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1000);
    // Load the shared definitions first so they do not count as per-cluster cost.
    let warm = Fleet::start(FleetConfig::with_clusters(1)).await?;
    let before = rss_kib()?;
    let started = Instant::now();
    let fleet = Fleet::start(FleetConfig::with_clusters(n)).await?;
    let start_time = started.elapsed();
    let after = rss_kib()?;
    println!(
        "{n} clusters started in {:.2?}; RSS {} MiB -> {} MiB; {:.1} KiB per idle cluster \
         (the fleet's own copy of the definitions included)",
        start_time,
        before / 1024,
        after / 1024,
        (after.saturating_sub(before)) as f64 / n as f64
    );
    fleet.shutdown().await;
    warm.shutdown().await;
    Ok(())
}
