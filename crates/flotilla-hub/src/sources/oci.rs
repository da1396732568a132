//! `OCIRepository` as a [`SourceKind`]: the selected layer of an artifact in an OCI
//! registry, revision `<tag>@sha256:<manifest digest>`. Credentials as for
//! HelmRepository (`username`/`password` or `.dockerconfigjson`), CA from
//! `spec.certSecretRef`'s `ca.crt`.

use std::time::Duration;

use flotilla_api::OCIRepository;
use flotilla_api::source::SourceStatus;
use flotilla_source::oci::OciSource;
use flotilla_source::{SourceError, SourceSpec};

use super::helm::registry_auth;
use super::{SecretData, SourceKind};

impl SourceKind for OCIRepository {
    fn source_status(&self) -> Option<&SourceStatus> {
        self.status.as_ref()
    }

    fn interval(&self) -> Duration {
        Duration::from(self.spec.interval)
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
        OciSource::from_spec(&self.spec, credentials, ca).map(|s| Some(SourceSpec::Oci(s)))
    }
}
