//! A fleet: many isolated clusters served from one process.
//!
//! [`Fleet::start`] generates each cluster's PKI, binds its port on the listen address and
//! starts its accept loop. Each cluster is independent — its own store, resourceVersion
//! counter, CA, token and `/version` — and can be stopped, restarted (same port, same CA,
//! same objects) or partitioned on its own through its [`ClusterHandle`].

use crate::cluster::{ClusterConfig, ClusterState, Shared};
use crate::discovery::catalog::default_definitions_path;
use crate::discovery::{Catalog, Definitions, DefinitionsError};
use crate::kubeconfig::{self, KubeconfigParts, KubeconfigUser};
use crate::pki::{ClusterPki, PkiError};
use crate::request_log::RequestRecord;
use crate::server::{self, Running, TlsError};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Mutex, watch};

/// Everything that can go wrong starting or restarting clusters.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Definitions(#[from] DefinitionsError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("binding {addr} for cluster {cluster}: {source}")]
    Bind {
        cluster: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid cluster name {0:?}: use lowercase letters, digits and '-'")]
    InvalidName(String),
    #[error("duplicate cluster name {0:?}")]
    DuplicateName(String),
    #[error(
        "cluster {cluster}: invalid Service cluster-IP range {cidr:?}: use an IPv4 CIDR from /8 to /30"
    )]
    InvalidServiceCidr { cluster: String, cidr: String },
}

/// What to start.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The address every cluster listens on (each on its own port).
    pub listen: IpAddr,
    pub clusters: Vec<ClusterConfig>,
    /// `_definitions.json`; `None` looks in the place `make tools` installs it.
    pub definitions: Option<PathBuf>,
}

impl FleetConfig {
    /// `n` clusters named `cluster-0` … `cluster-<n-1>` on 127.0.0.1.
    pub fn with_clusters(n: usize) -> Self {
        Self::named((0..n).map(|i| format!("cluster-{i}")))
    }

    /// One cluster per name, default settings, on 127.0.0.1.
    pub fn named<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        FleetConfig {
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            clusters: names.into_iter().map(ClusterConfig::new).collect(),
            definitions: None,
        }
    }

    /// Applies `f` to every cluster's configuration.
    pub fn each(mut self, f: impl Fn(&mut ClusterConfig)) -> Self {
        self.clusters.iter_mut().for_each(f);
        self
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Entry point; see [`Fleet::start`].
#[derive(Debug)]
pub struct Fleet;

impl Fleet {
    /// Starts every configured cluster; each is serving when this returns.
    pub async fn start(config: FleetConfig) -> Result<FleetHandle, FleetError> {
        // The one TLS provider in the graph; a second install (another fleet, or the
        // application did it) is harmless and reported as an error we can ignore.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut seen = std::collections::HashSet::new();
        for c in &config.clusters {
            if !valid_name(&c.name) {
                return Err(FleetError::InvalidName(c.name.clone()));
            }
            if !seen.insert(c.name.clone()) {
                return Err(FleetError::DuplicateName(c.name.clone()));
            }
            if crate::defaults::service::parse_cidr(&c.service_cidr).is_none() {
                return Err(FleetError::InvalidServiceCidr {
                    cluster: c.name.clone(),
                    cidr: c.service_cidr.clone(),
                });
            }
        }
        let path = config
            .definitions
            .clone()
            .unwrap_or_else(default_definitions_path);
        let definitions = Definitions::load(&path)?;
        let builtin_catalog = Arc::new(Catalog::builtin(&definitions));
        let ssa = crate::ssa::openapi::from_defs(&definitions.defs);
        let shared = Arc::new(Shared {
            definitions,
            builtin_catalog,
            ssa: Some(ssa),
        });
        let mut clusters = Vec::with_capacity(config.clusters.len());
        for cluster in config.clusters {
            clusters.push(ClusterHandle::start(cluster, config.listen, shared.clone()).await?);
        }
        Ok(FleetHandle { clusters })
    }
}

/// The running fleet.
#[derive(Debug)]
pub struct FleetHandle {
    clusters: Vec<ClusterHandle>,
}

impl FleetHandle {
    pub fn clusters(&self) -> &[ClusterHandle] {
        &self.clusters
    }

    pub fn cluster(&self, name: &str) -> Option<&ClusterHandle> {
        self.clusters.iter().find(|c| c.name() == name)
    }

    /// Writes `<dir>/<cluster>.kubeconfig` for every cluster; returns the paths.
    pub fn write_kubeconfigs(&self, dir: &Path) -> Result<Vec<PathBuf>, FleetError> {
        self.clusters
            .iter()
            .map(|c| c.write_kubeconfig(dir))
            .collect()
    }

    /// Stops every cluster.
    pub async fn shutdown(&self) {
        for c in &self.clusters {
            c.stop().await;
        }
    }
}

/// One cluster of a fleet. Cheap to clone; all clones control the same cluster.
#[derive(Debug, Clone)]
pub struct ClusterHandle {
    state: Arc<ClusterState>,
    addr: SocketAddr,
    running: Arc<Mutex<Option<Running>>>,
    /// While stopped: the port, bound but not listening, so connections are refused and
    /// no other socket (a client's ephemeral port) takes it before the restart.
    reserved: Arc<Mutex<Option<TcpSocket>>>,
    partition: Arc<watch::Sender<bool>>,
}

impl ClusterHandle {
    async fn start(
        config: ClusterConfig,
        listen: IpAddr,
        shared: Arc<Shared>,
    ) -> Result<Self, FleetError> {
        let requested = SocketAddr::new(listen, config.port);
        let listener = TcpListener::bind(requested)
            .await
            .map_err(|source| FleetError::Bind {
                cluster: config.name.clone(),
                addr: requested,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| FleetError::Bind {
            cluster: config.name.clone(),
            addr: requested,
            source,
        })?;
        let pki = ClusterPki::generate(&config.name)?;
        let state = Arc::new(ClusterState::new(config, pki, shared, addr.to_string()));
        crate::controllers::spawn(&state);
        let (partition, partition_rx) = watch::channel(false);
        let acceptor = server::tls_acceptor(&state)?;
        let running = server::spawn(listener, acceptor, state.clone(), partition_rx);
        Ok(ClusterHandle {
            state,
            addr,
            running: Arc::new(Mutex::new(Some(running))),
            reserved: Arc::new(Mutex::new(None)),
            partition: Arc::new(partition),
        })
    }

    pub fn name(&self) -> &str {
        &self.state.config.name
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.state.config
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>` (a wildcard listen address is reached through loopback,
    /// which the server certificate names).
    pub fn server_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        format!("https://{addr}")
    }

    /// The bearer token the kubeconfig's token user carries.
    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// The cluster CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.state.pki.ca_pem
    }

    /// The kubeconfig (token user current).
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_for(KubeconfigUser::Token)
    }

    /// The kubeconfig with `user`'s context current.
    pub fn kubeconfig_for(&self, user: KubeconfigUser) -> String {
        let server = self.server_url();
        let parts = KubeconfigParts {
            cluster: self.name(),
            server: &server,
            ca_pem: &self.state.pki.ca_pem,
            token: &self.state.token,
            client_cert_pem: &self.state.pki.client_cert_pem,
            client_key_pem: &self.state.pki.client_key_pem,
        };
        kubeconfig::render(&parts, user)
    }

    /// Writes `<dir>/<name>.kubeconfig` (mode 0600: it holds credentials).
    pub fn write_kubeconfig(&self, dir: &Path) -> Result<PathBuf, FleetError> {
        let path = dir.join(format!("{}.kubeconfig", self.name()));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            std::fs::write(&path, self.kubeconfig())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(())
        };
        write().map_err(|source| FleetError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Every request served so far (bounded by `request_log_limit`), oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.state.log.records()
    }

    pub fn clear_request_log(&self) {
        self.state.log.clear();
    }

    /// The cluster's current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state.store.lock().resource_version()
    }

    /// Adds a fault-injection rule (see [`crate::faults`]).
    pub fn inject(&self, fault: crate::faults::Fault) {
        self.state.faults.add(fault);
    }

    /// Removes every fault-injection rule.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Ends every open watch stream now.
    pub fn drop_watches(&self) {
        self.state.faults.drop_watches();
    }

    /// Forces a compaction: watches resuming from any earlier resourceVersion get 410.
    pub fn compact(&self) {
        self.state.store.compact();
    }

    pub async fn is_running(&self) -> bool {
        self.running.lock().await.is_some()
    }

    /// Stops serving (connections refused, open watches cut); objects are kept.
    pub async fn stop(&self) {
        if let Some(running) = self.running.lock().await.take() {
            running.stop().await;
            *self.reserved.lock().await = reserve(self.addr);
        }
    }

    /// Serves again on the same port with the same CA, token and objects.
    pub async fn restart(&self) -> Result<(), FleetError> {
        let mut running = self.running.lock().await;
        if let Some(r) = running.take() {
            r.stop().await;
        }
        let bind_error = |source| FleetError::Bind {
            cluster: self.name().to_string(),
            addr: self.addr,
            source,
        };
        let listener = match self.reserved.lock().await.take() {
            Some(socket) => socket.listen(1024).map_err(bind_error)?,
            None => TcpListener::bind(self.addr).await.map_err(bind_error)?,
        };
        let acceptor = server::tls_acceptor(&self.state)?;
        *running = Some(server::spawn(
            listener,
            acceptor,
            self.state.clone(),
            self.partition.subscribe(),
        ));
        Ok(())
    }

    /// Restarts with an empty store, as a control plane rebuilt on a new etcd: every
    /// object is gone (the initial namespaces come back), watches are cut and resuming
    /// them gets 410, so clients relist.
    pub async fn restart_wiped(&self) -> Result<(), FleetError> {
        self.stop().await;
        self.state.wipe();
        self.restart().await
    }

    /// Starts (`true`) or heals (`false`) a network partition: while partitioned, current
    /// connections are cut and new ones hang unanswered.
    pub fn partition(&self, partitioned: bool) {
        self.partition.send_replace(partitioned);
    }

    pub fn is_partitioned(&self) -> bool {
        *self.partition.borrow()
    }
}

/// A socket bound to `addr` without listening (connections to it are refused), or `None`
/// if the port could not be bound again.
fn reserve(addr: SocketAddr) -> Option<TcpSocket> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .ok()?;
    socket.set_reuseaddr(true).ok()?;
    socket.bind(addr).ok()?;
    Some(socket)
}
