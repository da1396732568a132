//! Credentials for Helm repositories and OCI registries, read by the caller from a Secret and
//! kept in memory only: `Debug` redacts them, errors never carry them, and fetches with
//! different credentials never share a cache entry or an in-flight fetch (only a digest of
//! them takes part in keys, see [`Credentials::fingerprint`]).
//!
//! The Secret reading and the fingerprint are shared with the other kinds' credentials
//! ([`crate::git::GitAuth`], [`crate::bucket::BucketCredentials`]): [`secret_text`],
//! [`secret_pair`], [`fingerprint_of`].

use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::error::SourceError;

/// How to authenticate to a Helm repository or an OCI registry.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub enum Credentials {
    /// No credentials.
    #[default]
    Anonymous,
    /// HTTP basic auth (an OCI registry may trade it for a bearer token).
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { .. } => f.write_str("Basic(<redacted>)"),
        }
    }
}

impl Credentials {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Reads a Secret's data as Flux does for a HelmRepository or OCIRepository: `username`
    /// with `password`, else a `kubernetes.io/dockerconfigjson` Secret's `.dockerconfigjson`
    /// entry for `registry_host` (e.g. `ghcr.io` or `127.0.0.1:5000`). A Secret with neither
    /// gives [`Credentials::Anonymous`] (it may hold only TLS material).
    pub fn from_secret_data(
        data: &BTreeMap<String, Vec<u8>>,
        registry_host: &str,
    ) -> Result<Self, SourceError> {
        if let Some((username, password)) = secret_pair(data, "username", "password")? {
            return Ok(Self::Basic { username, password });
        }
        match data.get(".dockerconfigjson") {
            Some(config) => Self::from_docker_config(config, registry_host),
            None => Ok(Self::Anonymous),
        }
    }

    /// The entry for `registry_host` in a Docker config (`{"auths": {host: {username,
    /// password} or {auth: base64(user:pass)}}}`); anonymous when it has none. Keys may carry
    /// a scheme or path (`https://host/v1/`), as `docker login` writes them.
    pub fn from_docker_config(config: &[u8], registry_host: &str) -> Result<Self, SourceError> {
        let invalid =
            |why: &str| SourceError::InvalidSpec(format!("secret's .dockerconfigjson {why}"));
        let json: serde_json::Value =
            serde_json::from_slice(config).map_err(|_| invalid("is not valid JSON"))?;
        let Some(auths) = json.get("auths").and_then(|a| a.as_object()) else {
            return Err(invalid("has no 'auths' object"));
        };
        let host_of = |key: &str| {
            let rest = key.split_once("://").map_or(key, |(_, rest)| rest);
            rest.split('/').next().unwrap_or(rest).to_owned()
        };
        let Some(entry) = auths
            .iter()
            .find(|(key, _)| host_of(key) == registry_host)
            .map(|(_, entry)| entry)
        else {
            return Ok(Self::Anonymous);
        };
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        if let (Some(username), Some(password)) = (field("username"), field("password")) {
            return Ok(Self::basic(username, password));
        }
        if let Some(auth) = field("auth") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| {
                    invalid(&format!("entry for {registry_host} has an invalid 'auth'"))
                })?;
            let (username, password) = decoded.split_once(':').ok_or_else(|| {
                invalid(&format!(
                    "entry for {registry_host} has an 'auth' without ':'"
                ))
            })?;
            return Ok(Self::basic(username, password));
        }
        Ok(Self::Anonymous)
    }

    /// A digest of the credentials for cache and dedupe keys.
    pub(crate) fn fingerprint(&self) -> String {
        match self {
            Self::Anonymous => fingerprint_of(&["anonymous"]),
            Self::Basic { username, password } => fingerprint_of(&["basic", username, password]),
        }
    }
}

/// A Secret's `key` as text, if present; an error naming the key (never the value) when
/// it is not UTF-8.
pub(crate) fn secret_text(
    data: &BTreeMap<String, Vec<u8>>,
    key: &str,
) -> Result<Option<String>, SourceError> {
    data.get(key)
        .map(|v| {
            String::from_utf8(v.clone())
                .map_err(|_| SourceError::InvalidSpec(format!("secret key {key:?} is not UTF-8")))
        })
        .transpose()
}

/// A Secret's `first` and `second` keys, which only make sense together: both, or neither
/// (`None`), else an error naming them.
pub(crate) fn secret_pair(
    data: &BTreeMap<String, Vec<u8>>,
    first: &str,
    second: &str,
) -> Result<Option<(String, String)>, SourceError> {
    match (secret_text(data, first)?, secret_text(data, second)?) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        _ => Err(SourceError::InvalidSpec(format!(
            "secret must hold both '{first}' and '{second}'"
        ))),
    }
}

/// A digest of `fields` (SHA-256 over them NUL-separated, first 16 bytes in hex), for
/// cache and dedupe keys: it shows whether credentials differ without revealing them.
pub(crate) fn fingerprint_of(fields: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            hasher.update(b"\0");
        }
        hasher.update(field.as_bytes());
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Secret's data from text pairs, for unit tests of the kinds' Secret readers.
#[cfg(test)]
pub(crate) fn secret_data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secret_data as data;

    #[test]
    fn reads_basic_and_docker_config_secrets_without_printing_them() {
        let basic = Credentials::from_secret_data(
            &data(&[("username", "u"), ("password", "hunter2")]),
            "h",
        )
        .unwrap();
        assert_eq!(basic, Credentials::basic("u", "hunter2"));
        assert!(!format!("{basic:?}").contains("hunter2"));
        assert!(Credentials::from_secret_data(&data(&[("username", "u")]), "h").is_err());
        let config = r#"{"auths": {"https://reg.example:5000/v1/": {"auth": "dTpodW50ZXIy"},
                         "other.example": {"username": "x", "password": "y"}}}"#;
        let secret = data(&[(".dockerconfigjson", config)]);
        assert_eq!(
            Credentials::from_secret_data(&secret, "reg.example:5000").unwrap(),
            Credentials::basic("u", "hunter2")
        );
        assert_eq!(
            Credentials::from_secret_data(&secret, "other.example").unwrap(),
            Credentials::basic("x", "y")
        );
        assert_eq!(
            Credentials::from_secret_data(&secret, "third.example").unwrap(),
            Credentials::Anonymous
        );
        assert!(Credentials::from_docker_config(b"{}", "h").is_err());
        assert_ne!(basic.fingerprint(), Credentials::Anonymous.fingerprint());
    }
}
