//! Bucket sources: the objects under a prefix of an S3-compatible bucket, fetched with
//! `object_store`.
//!
//! A fetch lists the bucket, keeps the keys starting with the prefix, drops the keys the ignore rules exclude (the defaults, a
//! `.sourceignore` object at the bucket's root, then `spec.ignore`, as in Flux) and
//! computes the revision from what is left: `sha256:` over `"<key> <etag>\n"` for every key
//! in sorted order, Flux's format. When that revision equals the source's previous one and
//! its artifact is still stored, nothing is downloaded; otherwise every object is
//! downloaded into a new artifact, each under its full key (the prefix is not stripped, as
//! in Flux).
//!
//! Every request carries the source's timeout and the whole fetch is bounded by it too.
//! Credentials are static (a Secret's `accesskey`/`secretkey`, read by the caller); with
//! none, requests go unsigned. The environment, `~/.aws` and instance metadata are never
//! consulted: a hub must not fetch with credentials nobody asked for.
//!
//! Only the `generic` (and, with static keys, `aws`) provider is implemented; `gcp`,
//! `azure` and `certSecretRef` are refused with a clear message.

mod fetch;

use std::collections::BTreeMap;
use std::time::Duration;

use flotilla_api::source::{BucketProvider, BucketSpec};
use sha2::{Digest as _, Sha256};

pub use fetch::{BucketFetch, BucketFetcher};

use crate::credentials::{fingerprint_of, secret_pair};
use crate::error::SourceError;

/// Flux's default timeout of bucket operations.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Region used when the spec names none (S3-compatible servers accept any).
pub const DEFAULT_REGION: &str = "us-east-1";

/// Static S3 credentials, from a Secret's `accesskey` and `secretkey`. `Debug` redacts them.
#[derive(Clone, PartialEq, Eq)]
pub struct BucketCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for BucketCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BucketCredentials(<redacted>)")
    }
}

impl BucketCredentials {
    /// Reads a Secret's data as Flux does for the generic provider: `accesskey` and
    /// `secretkey`, both or neither (`None`: anonymous).
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Option<Self>, SourceError> {
        Ok(secret_pair(data, "accesskey", "secretkey")?.map(
            |(access_key_id, secret_access_key)| Self {
                access_key_id,
                secret_access_key,
            },
        ))
    }

    fn fingerprint(&self) -> String {
        fingerprint_of(&[&self.access_key_id, &self.secret_access_key])
    }
}

/// Everything needed to fetch one bucket source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSource {
    /// Base URL of the S3 API, `http(s)://host[:port]`.
    pub endpoint: String,
    /// The bucket's name.
    pub bucket: String,
    /// Region the requests are signed for.
    pub region: String,
    /// Only keys starting with this string.
    pub prefix: Option<String>,
    /// Static credentials; `None` sends unsigned requests.
    pub credentials: Option<BucketCredentials>,
    /// Extra `.gitignore`-style exclusions (`spec.ignore`).
    pub ignore: Option<String>,
    /// Bound on every request and on the whole fetch.
    pub timeout: Duration,
}

impl BucketSource {
    /// The source a `Bucket` spec describes, with the credentials the caller read from its
    /// `secretRef` ([`BucketCredentials::from_secret_data`]).
    pub fn from_spec(
        spec: &BucketSpec,
        credentials: Option<BucketCredentials>,
    ) -> Result<Self, SourceError> {
        match spec.provider {
            BucketProvider::Generic | BucketProvider::Aws => {}
            other => {
                return Err(SourceError::InvalidSpec(format!(
                    "bucket provider {other:?} is not supported; use 'generic' with an S3-compatible endpoint"
                )));
            }
        }
        if spec.cert_secret_ref.is_some() {
            return Err(SourceError::InvalidSpec(
                "spec.certSecretRef is not supported for buckets yet".into(),
            ));
        }
        let endpoint = if spec.endpoint.contains("://") {
            spec.endpoint.trim_end_matches('/').to_owned()
        } else {
            let scheme = if spec.insecure { "http" } else { "https" };
            format!("{scheme}://{}", spec.endpoint.trim_end_matches('/'))
        };
        Ok(Self {
            endpoint,
            bucket: spec.bucket_name.clone(),
            region: spec
                .region
                .clone()
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            prefix: spec.prefix.clone().filter(|p| !p.is_empty()),
            credentials,
            ignore: spec.ignore.clone(),
            timeout: spec.timeout.map_or(DEFAULT_TIMEOUT, Duration::from),
        })
    }

    /// A key identifying what this source fetches: sources with equal keys get the same
    /// artifact, so one fetch serves them all. Credentials take part only as a digest.
    pub fn dedupe_key(&self) -> String {
        format!(
            "bucket\0{}\0{}\0{}\0{}\0{}\0{}",
            self.endpoint,
            self.bucket,
            self.region,
            self.prefix.as_deref().unwrap_or(""),
            self.ignore.as_deref().unwrap_or(""),
            self.credentials
                .as_ref()
                .map_or_else(|| "anonymous".to_owned(), BucketCredentials::fingerprint),
        )
    }

    /// How the bucket is named in messages: `s3://<bucket>/<prefix> at <endpoint>`.
    pub fn display(&self) -> String {
        format!(
            "bucket '{}'{} at {}",
            self.bucket,
            self.prefix
                .as_deref()
                .map(|p| format!(" (prefix '{p}')"))
                .unwrap_or_default(),
            self.endpoint
        )
    }
}

/// Flux's bucket revision: `sha256:` over `"<key> <etag>\n"` per object, keys sorted.
pub fn revision_of<'a>(objects: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut sorted: Vec<(&str, &str)> = objects.into_iter().collect();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    for (key, etag) in sorted {
        hasher.update(format!("{key} {etag}\n").as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::secret_data as data;

    #[test]
    fn source_from_a_bucket_spec() {
        let spec: BucketSpec = serde_json::from_value(serde_json::json!({
            "bucketName": "fleet",
            "endpoint": "127.0.0.1:9000",
            "insecure": true,
            "prefix": "apps/",
            "interval": "1m",
            "timeout": "5s",
        }))
        .unwrap();
        let source = BucketSource::from_spec(&spec, None).unwrap();
        assert_eq!(source.endpoint, "http://127.0.0.1:9000");
        assert_eq!(source.region, DEFAULT_REGION);
        assert_eq!(source.timeout, Duration::from_secs(5));
        let mut other = source.clone();
        other.credentials = Some(BucketCredentials {
            access_key_id: "AKIA".into(),
            secret_access_key: "s3cr3t".into(),
        });
        assert_ne!(source.dedupe_key(), other.dedupe_key());
        assert!(!other.dedupe_key().contains("s3cr3t"));
        assert!(!format!("{other:?}").contains("s3cr3t"));

        let gcp: BucketSpec = serde_json::from_value(serde_json::json!({
            "provider": "gcp", "bucketName": "b", "endpoint": "e", "interval": "1m",
        }))
        .unwrap();
        let err = BucketSource::from_spec(&gcp, None).unwrap_err();
        assert!(err.to_string().contains("Gcp"), "{err}");
    }

    #[test]
    fn credentials_need_both_keys() {
        assert!(BucketCredentials::from_secret_data(&data(&[("accesskey", "a")])).is_err());
        assert_eq!(
            BucketCredentials::from_secret_data(&data(&[])).unwrap(),
            None
        );
        let both =
            BucketCredentials::from_secret_data(&data(&[("accesskey", "a"), ("secretkey", "s")]))
                .unwrap()
                .unwrap();
        assert_eq!(both.access_key_id, "a");
    }

    #[test]
    fn revision_is_order_independent_and_matches_flux() {
        let a = revision_of([("b.yaml", "\"2\""), ("a.yaml", "\"1\"")]);
        let b = revision_of([("a.yaml", "\"1\""), ("b.yaml", "\"2\"")]);
        assert_eq!(a, b);
        assert_ne!(a, revision_of([("a.yaml", "\"1\""), ("b.yaml", "\"3\"")]));
        // sha256("a.yaml \"1\"\n")
        let expected: String = Sha256::digest(b"a.yaml \"1\"\n")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(revision_of([("a.yaml", "\"1\"")]), expected);
    }
}
