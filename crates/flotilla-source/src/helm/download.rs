//! HTTP(S) downloads from a Helm repository: one reqwest client per fetch, trusting the
//! source's CA besides the system's, with the source's timeout on every request, a cap on
//! every body, and HTTP statuses turned into Flux's failure classes (401/403 →
//! `AuthenticationFailed`, 404 → a not-found naming what was asked for).
//!
//! Credentials travel as a basic-auth header only to the repository's own host, unless the
//! source says `passCredentials`; reqwest drops them on a redirect to another host.

use std::time::Duration;

use reqwest::StatusCode;

use crate::credentials::Credentials;
use crate::error::{Operation, SourceError};

/// A client for one fetch.
#[derive(Debug)]
pub(crate) struct Downloader {
    client: reqwest::Client,
    timeout: Duration,
}

/// One request: where, with which credentials, and what it is for.
#[derive(Debug)]
pub(crate) struct Get<'a> {
    pub url: &'a str,
    /// The URL as it may appear in messages (no user info).
    pub shown_url: &'a str,
    pub credentials: &'a Credentials,
    /// Which operation a failure belongs to.
    pub operation: Operation,
    /// What a 404 means, e.g. `index.yaml` or `package of chart "x" version "1.0.0"`.
    pub what: &'a str,
    /// The most bytes the body may have.
    pub max_bytes: u64,
}

impl Downloader {
    /// A client trusting `ca_cert` (PEM) besides the system roots.
    pub(crate) fn new(ca_cert: Option<&str>, timeout: Duration) -> Result<Self, SourceError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("flotilla/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_cert {
            let roots = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                SourceError::InvalidSpec(format!("the CA certificate is not valid PEM: {e}"))
            })?;
            builder = builder.tls_certs_merge(roots);
        }
        let client = builder
            .build()
            .map_err(|e| SourceError::InvalidSpec(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self { client, timeout })
    }

    /// GETs `get.url` and returns its body.
    pub(crate) async fn get(&self, get: &Get<'_>) -> Result<Vec<u8>, SourceError> {
        let fail = |message: String| SourceError::Fetch {
            operation: get.operation,
            url: get.shown_url.to_owned(),
            message,
        };
        let mut request = self.client.get(get.url);
        if let Credentials::Basic { username, password } = get.credentials {
            request = request.basic_auth(username, Some(password));
        }
        let mut response = request.send().await.map_err(|e| self.error(get, &e))?;
        match response.status() {
            status if status.is_success() => {}
            status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                return Err(SourceError::Authentication {
                    url: get.shown_url.to_owned(),
                    message: format!("the server answered {status}"),
                });
            }
            StatusCode::NOT_FOUND => {
                return Err(SourceError::RefNotFound {
                    operation: get.operation,
                    url: get.shown_url.to_owned(),
                    reference: get.what.to_owned(),
                });
            }
            status => {
                return Err(fail(format!(
                    "the server answered {status} for {}",
                    get.what
                )));
            }
        }
        let too_big = || {
            fail(format!(
                "{} is larger than {} bytes",
                get.what, get.max_bytes
            ))
        };
        if response.content_length().is_some_and(|n| n > get.max_bytes) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.error(get, &e))? {
            if body.len() as u64 + chunk.len() as u64 > get.max_bytes {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn error(&self, get: &Get<'_>, error: &reqwest::Error) -> SourceError {
        if error.is_timeout() {
            return SourceError::Timeout {
                operation: get.operation,
                url: get.shown_url.to_owned(),
                seconds: self.timeout.as_secs(),
            };
        }
        // reqwest's message names the URL, which may carry user info: show the chain of
        // causes without it.
        let mut message = String::new();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        if message.is_empty() {
            message = "request failed".into();
        }
        SourceError::Fetch {
            operation: get.operation,
            url: get.shown_url.to_owned(),
            message,
        }
    }
}
