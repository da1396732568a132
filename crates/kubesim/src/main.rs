//! `kubesim serve`: run a fleet of emulated clusters until SIGTERM (or Ctrl-C).

use anyhow::Context;
use clap::{Parser, Subcommand};
use kubesim::controllers::behavior::parse_duration;
use kubesim::{Behavior, Fleet, FleetConfig};
use std::net::IpAddr;
use std::path::PathBuf;

/// mimalloc, as in every Flotilla binary: see the workspace manifest.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "kubesim", about = "An emulated Kubernetes API server fleet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve N clusters, writing DIR/<cluster>.kubeconfig for each.
    Serve {
        /// How many clusters (ignored when --names is given).
        #[arg(long, default_value_t = 1)]
        clusters: usize,
        /// Where the kubeconfigs go.
        #[arg(long)]
        state_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        listen: IpAddr,
        /// What /version reports.
        #[arg(long, default_value = "v1.35.2")]
        kubernetes_version: String,
        /// Cluster names, comma-separated (default cluster-0 … cluster-<N-1>).
        #[arg(long, value_delimiter = ',')]
        names: Vec<String>,
        /// Refuse streaming lists (sendInitialEvents) like a server without WatchList.
        #[arg(long)]
        no_watch_list: bool,
        /// How long each simulated pod stage takes (Go duration: 250ms, 2s, 1m).
        #[arg(long, default_value = "100ms", value_parser = parse_delay)]
        pod_delay: std::time::Duration,
        /// What simulated pods do unless annotated: healthy, stuck, crash or fail.
        #[arg(long, default_value = "healthy", value_parser = parse_behavior)]
        pod_behavior: Behavior,
        /// Run no simulated workload controllers (the garbage collector still runs).
        #[arg(long)]
        no_controllers: bool,
        /// Path of the Kubernetes `_definitions.json` (default: where `make tools` puts it).
        #[arg(long, env = "FLOTILLA_KUBERNETES_DEFINITIONS")]
        definitions: Option<PathBuf>,
        /// Serve the fault-injection admin endpoint (plain HTTP) on 127.0.0.1:PORT (0 picks one).
        #[arg(long)]
        admin_port: Option<u16>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Command::Serve {
        clusters,
        state_dir,
        listen,
        kubernetes_version,
        names,
        no_watch_list,
        pod_delay,
        pod_behavior,
        no_controllers,
        definitions,
        admin_port,
    } = Cli::parse().command;
    let mut config = if names.is_empty() {
        FleetConfig::with_clusters(clusters)
    } else {
        FleetConfig::named(names)
    }
    .each(|c| {
        c.kubernetes_version = kubernetes_version.clone();
        c.watch_list = !no_watch_list;
        c.workloads.delay = pod_delay;
        c.workloads.behavior = pod_behavior;
        c.workloads.enabled = !no_controllers;
    });
    config.listen = listen;
    config.definitions = definitions;
    let fleet = Fleet::start(config).await.context("starting the fleet")?;
    for cluster in fleet.clusters() {
        let path = cluster
            .write_kubeconfig(&state_dir)
            .context("writing a kubeconfig")?;
        println!(
            "cluster {} ready at {} kubeconfig {}",
            cluster.name(),
            cluster.server_url(),
            path.display()
        );
    }
    let _admin = match admin_port {
        Some(port) => {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .context("binding the admin port")?;
            println!("admin ready at http://{}", listener.local_addr()?);
            Some(kubesim::admin::spawn(listener, fleet.clusters().to_vec()))
        }
        None => None,
    };
    wait_for_termination().await?;
    fleet.shutdown().await;
    Ok(())
}

fn parse_delay(s: &str) -> Result<std::time::Duration, String> {
    parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration such as 250ms, 2s or 1m"))
}

fn parse_behavior(s: &str) -> Result<Behavior, String> {
    Behavior::parse(s).ok_or_else(|| format!("{s:?} is not one of healthy, stuck, crash, fail"))
}

async fn wait_for_termination() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
    }
    Ok(())
}
