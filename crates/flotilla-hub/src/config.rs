//! Command-line and environment configuration of the hub.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The Flotilla hub: discovers Cluster API clusters and keeps each one converged.
///
/// With `DATABASE_URL` unset the hub starts a private PostgreSQL instance in a temporary
/// directory and stops it on exit, so `make run` works on a machine with nothing set up.
#[derive(Debug, Clone, Parser)]
#[command(name = "flotilla-hub", version, about, long_about = None)]
pub struct Config {
    /// Address for the HTTP server (`/healthz`, `/readyz`, `/metrics`, `/api/v1`).
    #[arg(long, env = "FLOTILLA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// PostgreSQL connection URL; without it the hub runs an embedded PostgreSQL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Kubeconfig of the management cluster; without it the usual places are tried
    /// (`KUBECONFIG`, `~/.kube/config`, the in-cluster service account). When no cluster
    /// answers, the hub runs without its controllers and says so.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// Directory of the content-addressed artifact store (and fetch caches); without it a
    /// temporary directory, removed on exit.
    #[arg(long, env = "FLOTILLA_ARTIFACTS_DIR")]
    pub artifacts_dir: Option<PathBuf>,

    /// Reconciles of each source kind in flight at once (Flux's `--concurrent`): a fleet
    /// of sources created together is fetched a few at a time, not all at once.
    #[arg(long, env = "FLOTILLA_SOURCE_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub source_concurrency: u16,

    /// Log output: `json` for machines (the default in clusters), `text` for people.
    #[arg(long, env = "FLOTILLA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback() {
        let config = Config::try_parse_from(["flotilla-hub"]).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.source_concurrency, 4);
    }

    #[test]
    fn refuses_zero_source_concurrency() {
        let err =
            Config::try_parse_from(["flotilla-hub", "--source-concurrency", "0"]).unwrap_err();
        assert!(err.to_string().contains("--source-concurrency"), "{err}");
    }

    #[test]
    fn rejects_an_address_without_port() {
        let err = Config::try_parse_from(["flotilla-hub", "--listen", "127.0.0.1"]).unwrap_err();
        assert!(err.to_string().contains("--listen"), "{err}");
    }
}
