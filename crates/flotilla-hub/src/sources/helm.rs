//! `HelmRepository` as a [`SourceKind`]. An HTTP(S) repository's artifact is its
//! `index.yaml` (revision `sha256:<digest>`); an OCI repository (`type: oci`) has no
//! artifact, as in Flux: charts are pulled from the registry when a HelmRelease needs them,
//! so such an object only checks its spec and Secrets and reports Ready.
//!
//! Credentials: `username`/`password` or a `.dockerconfigjson` from `spec.secretRef`; the
//! CA from `spec.certSecretRef`'s `ca.crt` (else `secretRef`'s, Flux's older place).

use std::time::Duration;

use flotilla_api::HelmRepository;
use flotilla_api::source::SourceStatus;
use flotilla_source::git::ca_cert_from_secret_data;
use flotilla_source::helm::HelmRepositorySource;
use flotilla_source::{Credentials, SourceError, SourceSpec};

use super::{SecretData, SourceKind};

/// Flux's default `spec.interval` of a HelmRepository.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

impl SourceKind for HelmRepository {
    fn source_status(&self) -> Option<&SourceStatus> {
        self.status.as_ref()
    }

    fn interval(&self) -> Duration {
        self.spec.interval.map_or(DEFAULT_INTERVAL, Duration::from)
    }

    fn suspended(&self) -> bool {
        self.spec.suspend
    }

    fn secret_name(&self) -> Option<&str> {
        self.spec.secret_ref.as_ref().map(|r| r.name.as_str())
    }

    fn cert_secret_name(&self) -> Option<&str> {
        self.spec.cert_secret_ref.as_ref().map(|r| r.name.as_str())
    }

    fn to_source(&self, secrets: &SecretData) -> Result<Option<SourceSpec>, SourceError> {
        let (credentials, ca) = registry_auth(secrets, &self.spec.url)?;
        let repository = HelmRepositorySource::from_spec(&self.spec, credentials, ca)?;
        Ok((!repository.is_oci()).then_some(SourceSpec::HelmIndex(repository)))
    }
}

/// A HelmRepository's or OCIRepository's credentials for `url` (the auth Secret's
/// `username`/`password` or `.dockerconfigjson` entry for its host) and CA ([`ca_from`]).
pub(super) fn registry_auth(
    secrets: &SecretData,
    url: &str,
) -> Result<(Credentials, Option<String>), SourceError> {
    let credentials = match &secrets.auth {
        Some(data) => Credentials::from_secret_data(data, &host_of(url))?,
        None => Credentials::Anonymous,
    };
    Ok((credentials, ca_from(secrets)?))
}

/// `ca.crt` of the cert Secret, else of the auth Secret.
fn ca_from(secrets: &SecretData) -> Result<Option<String>, SourceError> {
    if let Some(data) = &secrets.cert
        && let Some(ca) = ca_cert_from_secret_data(data)?
    {
        return Ok(Some(ca));
    }
    match &secrets.auth {
        Some(data) => ca_cert_from_secret_data(data),
        None => Ok(None),
    }
}

/// `host[:port]` of a URL, the key of a Docker config's `auths`.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_urls() {
        assert_eq!(host_of("oci://127.0.0.1:5000/charts/app"), "127.0.0.1:5000");
        assert_eq!(
            host_of("https://charts.example.com/stable"),
            "charts.example.com"
        );
        assert_eq!(host_of("ghcr.io"), "ghcr.io");
    }
}
