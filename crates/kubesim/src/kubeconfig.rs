//! Kubeconfig files for one cluster.
//!
//! Each file holds one cluster entry (server URL and `certificate-authority-data`) and two
//! users with a context each:
//! - `<cluster>`: a bearer-token user, the default context;
//! - `<cluster>-admin@<cluster>`: the client-certificate user `<cluster>-admin`, named the way
//!   Cluster API names the users of the kubeconfig secrets it writes.
//!
//! The YAML is written by hand: every value is either a fixed identifier, a URL, a hex token
//! or base64, none of which needs quoting, so a YAML library would add nothing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Which user the kubeconfig's `current-context` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KubeconfigUser {
    /// The bearer-token user.
    #[default]
    Token,
    /// The admin client-certificate user (Cluster API style).
    ClientCertificate,
}

/// What a kubeconfig needs to know about a cluster.
#[derive(Debug)]
pub struct KubeconfigParts<'a> {
    pub cluster: &'a str,
    pub server: &'a str,
    pub ca_pem: &'a str,
    pub token: &'a str,
    pub client_cert_pem: &'a str,
    pub client_key_pem: &'a str,
}

/// Renders the kubeconfig YAML with `current-context` pointing at `user`'s context.
pub fn render(parts: &KubeconfigParts<'_>, user: KubeconfigUser) -> String {
    let name = parts.cluster;
    let ca = STANDARD.encode(parts.ca_pem);
    let cert = STANDARD.encode(parts.client_cert_pem);
    let key = STANDARD.encode(parts.client_key_pem);
    let current = match user {
        KubeconfigUser::Token => name.to_string(),
        KubeconfigUser::ClientCertificate => format!("{name}-admin@{name}"),
    };
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {name}
  user:
    token: {token}
- name: {name}-admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: {name}
  context:
    cluster: {name}
    user: {name}
    namespace: default
- name: {name}-admin@{name}
  context:
    cluster: {name}
    user: {name}-admin
    namespace: default
current-context: {current}
",
        server = parts.server,
        token = parts.token,
    )
}
