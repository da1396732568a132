//! The HTTPS listener of one cluster.
//!
//! One accept loop per cluster, TLS by rustls (aws-lc-rs), HTTP/1.1 and HTTP/2 by hyper's
//! auto builder (client-go negotiates h2 through ALPN, kube-rs speaks HTTP/1.1). Client
//! certificates are optional: rustls verifies one against the cluster CA if offered, and
//! the request handler accepts either that or the bearer token.
//!
//! Stopping aborts every connection task, which drops in-flight requests and open watch
//! streams — what clients see when an API server dies. A partition keeps the listener but
//! aborts current connections and holds new ones open without ever answering, so clients
//! time out as behind a black-holing network, until the partition heals.

use crate::api;
use crate::cluster::ClusterState;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// What the TLS layer learned about the peer, handed to the request handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnInfo {
    /// A client certificate signed by the cluster CA was presented (and verified).
    pub client_certificate: bool,
}

/// The rustls server configuration for a cluster.
pub fn tls_acceptor(state: &ClusterState) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(state.pki.ca_der.clone())?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![state.pki.server_cert_der.clone()],
            state.pki.server_key(),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A running accept loop.
#[derive(Debug)]
pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting and aborts every connection; returns once the listener is closed.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        // The loop only ends by the stop signal; a panic inside it is reported by tokio.
        let _ = self.task.await;
    }
}

/// Starts serving `state` on `listener`.
pub fn spawn(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<ClusterState>,
    partition: watch::Receiver<bool>,
) -> Running {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, acceptor, state, partition, stopped));
    Running { stop, task }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<ClusterState>,
    mut partition: watch::Receiver<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut held = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            changed = partition.changed() => {
                if changed.is_err() {
                    break;
                }
                if *partition.borrow() {
                    connections.abort_all();
                } else {
                    held.abort_all();
                }
            }
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if *partition.borrow() {
                    held.spawn(async move {
                        let _tcp = tcp;
                        std::future::pending::<()>().await;
                    });
                    continue;
                }
                let acceptor = acceptor.clone();
                let state = state.clone();
                connections.spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let conn = ConnInfo {
                        client_certificate: tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty()),
                    };
                    let service = tower::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(api::handle(state, conn, req).await) }
                    });
                    let _ = Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            Some(_) = held.join_next(), if !held.is_empty() => {}
        }
    }
    // Dropping the sets aborts every connection task.
    drop(connections);
    drop(held);
}
