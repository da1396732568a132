//! `GitRepository` as a [`SourceKind`]: credentials and CA from `spec.secretRef`, as Flux
//! reads them (`username`/`password`, `bearerToken`, `identity`/`known_hosts`, `ca.crt`).

use std::time::Duration;

use flotilla_api::GitRepository;
use flotilla_api::source::SourceStatus;
use flotilla_source::git::{GitAuth, GitSource, ca_cert_from_secret_data};
use flotilla_source::{SourceError, SourceSpec};

use super::{SecretData, SourceKind};

impl SourceKind for GitRepository {
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

    fn to_source(&self, secrets: &SecretData) -> Result<Option<SourceSpec>, SourceError> {
        let (auth, ca) = match &secrets.auth {
            Some(data) => (
                GitAuth::from_secret_data(data)?,
                ca_cert_from_secret_data(data)?,
            ),
            None => (GitAuth::Anonymous, None),
        };
        GitSource::from_spec(&self.spec, auth, ca).map(|s| Some(SourceSpec::Git(s)))
    }
}
