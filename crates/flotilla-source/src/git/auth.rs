//! Credentials for a Git remote, taken from a Secret by the caller and kept in memory:
//! HTTP credentials travel in a header set on gix's transport, never in a repository's
//! config; they are never printed (`Debug` redacts them) and never put in an error. The
//! system `ssh` can only read a key from a file, so an SSH identity is written, mode 0600,
//! to a private temporary directory for the length of one fetch.

use std::collections::BTreeMap;

use crate::credentials::{fingerprint_of, secret_pair, secret_text};
use crate::error::SourceError;

/// How to authenticate to an HTTP(S) Git server.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum GitAuth {
    /// No credentials; a server that asks for some gets none.
    #[default]
    Anonymous,
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
    /// `Authorization: Bearer <token>` on every request.
    Bearer(String),
    /// An SSH private key and the `known_hosts` lines the server's key must match.
    Ssh {
        /// The private key, OpenSSH or PEM format.
        identity: String,
        /// `known_hosts` content; host keys are always checked.
        known_hosts: String,
    },
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { .. } => f.write_str("Basic(<redacted>)"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Self::Ssh { .. } => f.write_str("Ssh(<redacted>)"),
        }
    }
}

/// A Secret's `ca.crt`, if it has one: PEM certificates to trust for HTTPS.
pub fn ca_cert_from_secret_data(
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Option<String>, SourceError> {
    secret_text(data, "ca.crt")
}

impl GitAuth {
    /// Reads a Secret's data as Flux does: `identity` with `known_hosts` (SSH), else
    /// `bearerToken`, else `username` with `password`. A Secret with none of them gives
    /// [`GitAuth::Anonymous`] (it may hold only `ca.crt`).
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, SourceError> {
        let text = |key: &str| secret_text(data, key);
        if let Some(identity) = text("identity")? {
            let known_hosts = text("known_hosts")?.ok_or_else(|| {
                SourceError::InvalidSpec("secret with 'identity' must hold 'known_hosts'".into())
            })?;
            return Ok(Self::Ssh {
                identity,
                known_hosts,
            });
        }
        if let Some(token) = text("bearerToken")? {
            return Ok(Self::Bearer(token));
        }
        Ok(match secret_pair(data, "username", "password")? {
            Some((username, password)) => Self::Basic { username, password },
            None => Self::Anonymous,
        })
    }

    /// A digest of the credentials, so fetches and caches with different credentials are
    /// never shared (one source must not read what only another's credentials allow).
    pub(crate) fn fingerprint(&self) -> String {
        match self {
            Self::Anonymous => fingerprint_of(&["anonymous"]),
            Self::Basic { username, password } => fingerprint_of(&["basic", username, password]),
            Self::Bearer(token) => fingerprint_of(&["bearer", token]),
            Self::Ssh {
                identity,
                known_hosts,
            } => fingerprint_of(&["ssh", identity, known_hosts]),
        }
    }

    /// The `Authorization` header the credentials travel in, on every request. Basic
    /// credentials are sent up front, as Flux does, rather than through gix's credential
    /// callback, which refuses them over plain `http://`. gix does not follow redirects
    /// once such a header is configured, so they never reach another host.
    pub(crate) fn header(&self) -> Option<String> {
        match self {
            Self::Anonymous | Self::Ssh { .. } => None,
            Self::Basic { username, password } => Some(format!(
                "Authorization: Basic {}",
                base64(format!("{username}:{password}").as_bytes())
            )),
            Self::Bearer(token) => Some(format!("Authorization: Bearer {token}")),
        }
    }
}

/// Standard base64 with padding (RFC 4648), for the basic-auth header.
fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::secret_data as data;

    #[test]
    fn reads_secrets_and_never_prints_them() {
        let basic = GitAuth::from_secret_data(&data(&[("username", "u"), ("password", "hunter2")]))
            .unwrap();
        assert!(matches!(&basic, GitAuth::Basic { username, .. } if username == "u"));
        assert!(!format!("{basic:?}").contains("hunter2"));
        let bearer =
            GitAuth::from_secret_data(&data(&[("bearerToken", "t0k"), ("username", "u")])).unwrap();
        assert_eq!(
            bearer.header().as_deref(),
            Some("Authorization: Bearer t0k")
        );
        assert_eq!(
            basic.header().as_deref(),
            Some("Authorization: Basic dTpodW50ZXIy")
        );
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(GitAuth::Anonymous.header(), None);
        assert!(GitAuth::from_secret_data(&data(&[("username", "u")])).is_err());
        assert_eq!(
            GitAuth::from_secret_data(&data(&[("ca.crt", "x")])).unwrap(),
            GitAuth::Anonymous
        );
        assert_ne!(basic.fingerprint(), bearer.fingerprint());
        let ssh = GitAuth::from_secret_data(&data(&[
            ("identity", "-----BEGIN OPENSSH PRIVATE KEY-----"),
            ("known_hosts", "host ssh-ed25519 AAAA"),
        ]))
        .unwrap();
        assert!(
            matches!(&ssh, GitAuth::Ssh { known_hosts, .. } if known_hosts.starts_with("host"))
        );
        assert_eq!(format!("{ssh:?}"), "Ssh(<redacted>)");
        assert_eq!(ssh.header(), None);
        assert!(GitAuth::from_secret_data(&data(&[("identity", "k")])).is_err());
        assert_eq!(
            ca_cert_from_secret_data(&data(&[("ca.crt", "PEM"), ("username", "u")])).unwrap(),
            Some("PEM".to_owned())
        );
        assert_eq!(ca_cert_from_secret_data(&data(&[])).unwrap(), None);
    }
}
