//! One connection to an OCI registry through oci-client, for OCIRepository artifacts and
//! Helm charts stored as OCI artifacts.
//!
//! A client is built per fetch, so a token or basic credentials obtained for one source are
//! never reused by another. Every request is bounded by the source's timeout (connect and
//! read; the caller bounds the whole fetch too), blobs are capped in size and verified
//! against their digest by oci-client, and registry errors become Flux's failure classes:
//! 401/403 and `UNAUTHORIZED`/`DENIED` → `AuthenticationFailed`; 404 and `*_UNKNOWN` → a
//! not-found naming the tag or digest.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use oci_client::Reference;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;

use crate::credentials::Credentials;
use crate::error::{Operation, SourceError};

/// Where an `oci://` URL points: the registry host and the repository in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repository {
    /// `host[:port]`.
    pub registry: String,
    /// `path/name`.
    pub repository: String,
}

impl Repository {
    /// Parses `oci://host[:port]/path/name`; tags and digests belong in the ref, not here.
    pub(crate) fn parse(url: &str) -> Result<Self, SourceError> {
        let invalid = |why: &str| SourceError::InvalidSpec(format!("OCI URL {url:?} {why}"));
        let rest = url
            .strip_prefix("oci://")
            .ok_or_else(|| invalid("must start with oci://"))?;
        let (registry, repository) = rest
            .split_once('/')
            .ok_or_else(|| invalid("names no repository"))?;
        let repository = repository.trim_end_matches('/');
        if registry.is_empty() || repository.is_empty() || registry.contains('@') {
            return Err(invalid(
                "must be oci://<host>/<repository>, without user info",
            ));
        }
        if repository.contains('@')
            || repository
                .rsplit('/')
                .next()
                .is_some_and(|n| n.contains(':'))
        {
            return Err(invalid("must not carry a tag or digest (use the ref)"));
        }
        Ok(Self {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
        })
    }

    /// The same registry, one level down (`…/charts` + `podinfo`).
    pub(crate) fn child(&self, name: &str) -> Self {
        Self {
            registry: self.registry.clone(),
            repository: format!("{}/{name}", self.repository),
        }
    }

    pub(crate) fn with_tag(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            tag.to_owned(),
        )
    }

    pub(crate) fn with_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.registry.clone(),
            self.repository.clone(),
            digest.to_owned(),
        )
    }

    /// `oci://host/repository`, for messages.
    pub(crate) fn url(&self) -> String {
        format!("oci://{}/{}", self.registry, self.repository)
    }
}

/// How to reach a registry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connect<'a> {
    pub credentials: &'a Credentials,
    /// PEM CA certificates trusted besides the system's.
    pub ca_cert: Option<&'a str>,
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    pub timeout: Duration,
    /// Which operation failures belong to.
    pub operation: Operation,
}

/// A client for one fetch from one registry.
pub(crate) struct Registry {
    client: oci_client::Client,
    auth: RegistryAuth,
    timeout: Duration,
    operation: Operation,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub(crate) fn new(connect: Connect<'_>) -> Self {
        let config = ClientConfig {
            protocol: if connect.insecure {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            extra_root_certificates: connect
                .ca_cert
                .map(|pem| {
                    vec![Certificate {
                        encoding: CertificateEncoding::Pem,
                        data: pem.as_bytes().to_vec(),
                    }]
                })
                .unwrap_or_default(),
            read_timeout: Some(connect.timeout),
            connect_timeout: Some(connect.timeout),
            // An index (multi-platform list) is refused rather than resolved for this
            // machine's platform: an artifact must not depend on where the hub runs.
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let auth = match connect.credentials {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
        };
        Self {
            client: oci_client::Client::new(config),
            auth,
            timeout: connect.timeout,
            operation: connect.operation,
        }
    }

    /// Every tag of `repository`, read in pages (`n`/`last`, as the distribution spec
    /// paginates) so a registry's default page size cannot hide the newest version.
    pub(crate) async fn tags(&self, repository: &Repository) -> Result<Vec<String>, SourceError> {
        const PAGE: usize = 1000;
        let reference = repository.with_tag("latest");
        let mut tags: Vec<String> = Vec::new();
        loop {
            let last = tags.last().cloned();
            let page = self
                .client
                .list_tags(&reference, &self.auth, Some(PAGE), last.as_deref())
                .await
                .map_err(|e| self.error(repository, "the repository's tags", e))?
                .tags;
            let full = page.len() >= PAGE;
            let page_last = page.last().cloned();
            tags.extend(page);
            // A short page ends the list; so does a registry that ignores `last` and
            // repeats itself.
            if !full || page_last == last {
                return Ok(tags);
            }
        }
    }

    /// The image manifest `reference` points at, and its digest. `what` names the reference
    /// in a not-found error, e.g. `tag "v1"`.
    pub(crate) async fn manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
        what: &str,
    ) -> Result<(OciImageManifest, String), SourceError> {
        self.client
            .pull_image_manifest(reference, &self.auth)
            .await
            .map_err(|e| self.error(repository, what, e))
    }

    /// The blob `layer` describes, refused past `max_bytes`; oci-client checks its digest.
    pub(crate) async fn blob(
        &self,
        repository: &Repository,
        reference: &Reference,
        layer: &OciDescriptor,
        max_bytes: u64,
    ) -> Result<Vec<u8>, SourceError> {
        let what = format!("layer {}", layer.digest);
        if u64::try_from(layer.size).is_ok_and(|size| size > max_bytes) {
            return Err(self.fetch_error(
                repository,
                format!("{what} is larger than {max_bytes} bytes"),
            ));
        }
        let mut out = CappedBuffer {
            bytes: Vec::new(),
            max_bytes,
        };
        self.client
            .pull_blob(reference, layer, &mut out)
            .await
            .map_err(|e| self.error(repository, &what, e))?;
        Ok(out.bytes)
    }

    fn fetch_error(&self, repository: &Repository, message: String) -> SourceError {
        SourceError::Fetch {
            operation: self.operation,
            url: repository.url(),
            message,
        }
    }

    fn error(
        &self,
        repository: &Repository,
        what: &str,
        error: OciDistributionError,
    ) -> SourceError {
        let url = repository.url();
        let auth = |message: String| SourceError::Authentication {
            url: url.clone(),
            message,
        };
        let not_found = || SourceError::RefNotFound {
            operation: self.operation,
            url: url.clone(),
            reference: what.to_owned(),
        };
        match &error {
            OciDistributionError::UnauthorizedError { .. } => {
                auth("the registry answered 401 Unauthorized".into())
            }
            OciDistributionError::AuthenticationFailure(_) => {
                auth("the registry refused the credentials".into())
            }
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => auth(format!("the registry answered {error}")),
            OciDistributionError::ServerError { code: 404, .. }
            | OciDistributionError::ImageManifestNotFoundError(_) => not_found(),
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    auth(envelope.to_string())
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    not_found()
                } else {
                    self.fetch_error(repository, envelope.to_string())
                }
            }
            OciDistributionError::RequestError(e) if e.is_timeout() => SourceError::Timeout {
                operation: self.operation,
                url,
                seconds: self.timeout.as_secs(),
            },
            OciDistributionError::RequestError(e) => {
                let mut message = e.to_string();
                let mut source = std::error::Error::source(e);
                while let Some(cause) = source {
                    message.push_str(": ");
                    message.push_str(&cause.to_string());
                    source = cause.source();
                }
                self.fetch_error(repository, message)
            }
            _ => self.fetch_error(repository, error.to_string()),
        }
    }
}

/// An in-memory sink that fails once more than `max_bytes` arrive, so a registry cannot make
/// the hub buffer an unbounded blob.
struct CappedBuffer {
    bytes: Vec<u8>,
    max_bytes: u64,
}

impl tokio::io::AsyncWrite for CappedBuffer {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.bytes.len() as u64 + buf.len() as u64 > this.max_bytes {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "blob is larger than {} bytes",
                this.max_bytes
            ))));
        }
        this.bytes.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_oci_urls() {
        let repo = Repository::parse("oci://127.0.0.1:5000/fleet/manifests").unwrap();
        assert_eq!(repo.registry, "127.0.0.1:5000");
        assert_eq!(repo.repository, "fleet/manifests");
        assert_eq!(
            repo.child("podinfo").url(),
            "oci://127.0.0.1:5000/fleet/manifests/podinfo"
        );
        for bad in [
            "https://ghcr.io/x",
            "oci://ghcr.io",
            "oci://ghcr.io/x:v1",
            "oci://ghcr.io/x@sha256:00",
            "oci://user:pw@ghcr.io/x",
        ] {
            assert!(Repository::parse(bad).is_err(), "{bad}");
        }
    }
}
