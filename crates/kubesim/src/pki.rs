//! Per-cluster PKI: a CA, the API server's leaf certificate and an admin client certificate.
//!
//! Every cluster gets its own CA (`CA:true`, key usage certSign) so kubeconfigs of different
//! clusters never trust each other. The CA signs:
//! - a server leaf (`CA:false`, SAN IP `127.0.0.1` and DNS `localhost`, serverAuth) — rustls
//!   and Go's crypto/tls reject a CA certificate presented as a leaf, so the two must differ;
//! - an admin client certificate (CN `kubernetes-admin`, O `system:masters`, clientAuth), the
//!   shape Cluster API writes into its `<cluster>-kubeconfig` secrets.
//!
//! Keys are ECDSA P-256: cheap to generate (a fleet of 1,000 clusters starts in well under a
//! second of key generation) and accepted by every client.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, thiserror::Error)]
#[error("generating the cluster certificates: {0}")]
pub struct PkiError(#[from] rcgen::Error);

/// One cluster's certificates and keys.
#[derive(Clone)]
pub struct ClusterPki {
    /// The CA certificate, PEM (what `certificate-authority-data` holds, base64-encoded).
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub server_cert_der: CertificateDer<'static>,
    server_key_pkcs8: Vec<u8>,
    /// The admin client certificate and key, PEM.
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl std::fmt::Debug for ClusterPki {
    // Keys stay out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPki").finish_non_exhaustive()
    }
}

impl ClusterPki {
    /// Generates a fresh CA and the certificates it signs, for the cluster `name`.
    pub fn generate(name: &str) -> Result<Self, PkiError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("kubesim-ca-{name}"));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server_params = CertificateParams::new(Vec::<String>::new())?;
        server_params.is_ca = IsCa::ExplicitNoCa;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        server_params.subject_alt_names = vec![
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::DnsName("localhost".try_into()?),
            SanType::DnsName("kubernetes.default.svc".try_into()?),
        ];
        server_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &issuer)?;

        let client_key = KeyPair::generate()?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params.is_ca = IsCa::ExplicitNoCa;
        client_params
            .distinguished_name
            .push(DnType::CommonName, "kubernetes-admin");
        client_params
            .distinguished_name
            .push(DnType::OrganizationName, "system:masters");
        client_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &issuer)?;

        Ok(ClusterPki {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            server_cert_der: server_cert.der().clone(),
            server_key_pkcs8: server_key.serialize_der(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        })
    }

    /// The server's private key, for rustls.
    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_pkcs8.clone()))
    }
}
