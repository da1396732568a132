//! `Bucket` as a [`SourceKind`]: static keys from `spec.secretRef` (`accesskey`,
//! `secretkey`), as Flux reads them for the generic provider.

use std::time::Duration;

use flotilla_api::Bucket;
use flotilla_api::source::SourceStatus;
use flotilla_source::bucket::{BucketCredentials, BucketSource};
use flotilla_source::{SourceError, SourceSpec};

use super::{SecretData, SourceKind};

impl SourceKind for Bucket {
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
        let credentials = match &secrets.auth {
            Some(data) => BucketCredentials::from_secret_data(data)?,
            None => None,
        };
        BucketSource::from_spec(&self.spec, credentials).map(|s| Some(SourceSpec::Bucket(s)))
    }
}
