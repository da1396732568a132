//! The management cluster: where the hub reads Cluster API clusters and Flotilla's own
//! objects (sources, deployers) and writes their status.
//!
//! The kubeconfig comes from `--kubeconfig`, else the usual places (`KUBECONFIG`,
//! `~/.kube/config`, the in-cluster service account), as kubectl finds it. A cluster that
//! cannot be configured or does not answer is not fatal: the hub still serves its HTTP
//! API and fleet state, without the controllers that need the cluster, and says why.

use std::path::Path;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use thiserror::Error;

/// How long the start-up probe waits for the API server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why there is no management cluster.
#[derive(Debug, Error)]
pub enum ManagementClusterError {
    /// No kubeconfig could be found or read.
    #[error("no usable kubeconfig: {0}")]
    Config(String),
    /// The API server did not answer the version probe.
    #[error("the API server at {url} did not answer: {message}")]
    Unreachable {
        /// The server URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// A client for the management cluster that answered a probe.
#[derive(Clone)]
pub struct ManagementCluster {
    /// The client.
    pub client: kube::Client,
    /// The API server URL, for messages.
    pub url: String,
}

impl std::fmt::Debug for ManagementCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementCluster")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ManagementCluster {
    /// Connects with the kubeconfig at `path`, or the inferred one, and checks that the API
    /// server answers.
    pub async fn connect(path: Option<&Path>) -> Result<Self, ManagementClusterError> {
        let config = match path {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                    ManagementClusterError::Config(format!("{}: {e}", path.display()))
                })?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| {
                        ManagementClusterError::Config(format!("{}: {e}", path.display()))
                    })?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| ManagementClusterError::Config(e.to_string()))?,
        };
        let url = config.cluster_url.to_string();
        let client =
            kube::Client::try_from(config).map_err(|e| ManagementClusterError::Unreachable {
                url: url.clone(),
                message: e.to_string(),
            })?;
        match tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await {
            Ok(Ok(_)) => Ok(Self { client, url }),
            Ok(Err(e)) => Err(ManagementClusterError::Unreachable {
                url,
                message: e.to_string(),
            }),
            Err(_) => Err(ManagementClusterError::Unreachable {
                url,
                message: format!("no answer within {PROBE_TIMEOUT:?}"),
            }),
        }
    }
}
