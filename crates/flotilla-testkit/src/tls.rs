//! TLS for loopback test servers: a throwaway CA and a certificate it signs for
//! `127.0.0.1` (kubesim's per-cluster PKI), and an axum listener that terminates TLS with
//! them. Clients trust the CA's PEM ([`TestCa::ca_pem`]), as they would a Secret's `ca.crt`.

use std::net::SocketAddr;
use std::sync::Arc;

use kubesim::pki::ClusterPki;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A CA and a server certificate for `127.0.0.1` signed by it.
#[derive(Debug)]
pub struct TestCa {
    pki: ClusterPki,
}

impl TestCa {
    /// Generates both (P-256 keys).
    pub fn generate() -> anyhow::Result<Self> {
        Ok(Self {
            pki: ClusterPki::generate("flotilla-test")?,
        })
    }

    /// The CA certificate in PEM, for clients to trust.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// A TLS acceptor presenting the server certificate, on aws-lc-rs (the workspace's
    /// one crypto provider) without relying on a process-wide default.
    pub fn acceptor(&self) -> anyhow::Result<TlsAcceptor> {
        let chain = vec![self.pki.server_cert_der.clone(), self.pki.ca_der.clone()];
        let key = self.pki.server_key();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// A TCP listener whose connections are TLS-terminated, for `axum::serve`.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    /// Wraps `tcp`.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Self { tcp, acceptor }
    }
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that rejects our certificate just fails its handshake.
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
