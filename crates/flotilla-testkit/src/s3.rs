//! An S3-compatible server on loopback for Bucket source tests: moto's `moto_server`
//! (PyPI `moto[server]`, installed by `make tools` into a venv under the tools directory).
//!
//! [`S3Server::start`] runs it on a free port with authentication enforced: it creates an
//! IAM user with an access key allowed everything, then tells moto to check every later
//! request's signature against IAM, so wrong credentials really fail. The setup requests
//! carry a syntactically valid but unsigned `Authorization` header, which moto uses only
//! to route them to IAM or S3 while authentication is still off.
//!
//! `moto_server` is looked up as `FLOTILLA_MOTO_SERVER`, then `<tools>/bin/moto_server`,
//! then `PATH`. [`S3Server::start_or_skip`] returns `None` with a message when it is
//! missing, except under CI (`CI` set), where a missing server is an error: CI installs it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

/// The environment variable naming a `moto_server` to use.
pub const MOTO_SERVER_ENV: &str = "FLOTILLA_MOTO_SERVER";

/// The region the server's buckets are created in.
pub const REGION: &str = "us-east-1";

/// A running `moto_server` with authentication enforced. Killed on drop.
#[derive(Debug)]
pub struct S3Server {
    child: tokio::process::Child,
    port: u16,
    access_key_id: String,
    secret_access_key: String,
}

/// Finds `moto_server`: the override, the tools directory, then `PATH`.
pub fn moto_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(MOTO_SERVER_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    if let Ok(dir) = crate::tools::tools_dir() {
        let path = dir.join("bin/moto_server");
        if path.is_file() {
            return Some(path);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("moto_server"))
        .find(|p| p.is_file())
}

impl S3Server {
    /// Starts a server, or explains why the test is skipped and returns `None` when
    /// `moto_server` is not installed. Under CI a missing server is an error instead.
    pub async fn start_or_skip() -> anyhow::Result<Option<Self>> {
        if moto_server().is_none() {
            if std::env::var_os("CI").is_some() {
                bail!("moto_server is not installed; CI must run `make tools` first");
            }
            eprintln!(
                "SKIPPED: moto_server (PyPI moto[server]) is not installed; run `make tools` \
                 or set {MOTO_SERVER_ENV}"
            );
            return Ok(None);
        }
        Self::start().await.map(Some)
    }

    /// Starts `moto_server` on a free loopback port and sets up the IAM user.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = moto_server().with_context(|| {
            format!("moto_server not found: run `make tools` or set {MOTO_SERVER_ENV}")
        })?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = tokio::process::Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "inf")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Self {
            child,
            port,
            access_key_id: String::new(),
            secret_access_key: String::new(),
        };
        server.wait_until_serving().await?;
        server.enforce_auth().await?;
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`, as a Bucket's `spec.endpoint` (with `insecure: true`).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The access key id that the server accepts.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key that the server accepts.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        // object_store cannot create buckets and we do not sign requests ourselves, so
        // authentication is lifted for exactly this one request.
        self.set_no_auth_count(1).await?;
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint()))
            .header("Authorization", unsigned_authorization("s3"))
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        self.set_no_auth_count(0).await?;
        if !status.is_success() {
            bail!("creating bucket {bucket}: {status}: {body}");
        }
        Ok(())
    }

    /// Writes `contents` at `key` in `bucket`, with the server's credentials.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        contents: impl Into<Vec<u8>>,
    ) -> anyhow::Result<()> {
        self.client(bucket)?
            .put(&ObjectPath::from(key), PutPayload::from(contents.into()))
            .await
            .with_context(|| format!("putting {key} into {bucket}"))?;
        Ok(())
    }

    /// Deletes `key` from `bucket`.
    pub async fn delete(&self, bucket: &str, key: &str) -> anyhow::Result<()> {
        self.client(bucket)?
            .delete(&ObjectPath::from(key))
            .await
            .with_context(|| format!("deleting {key} from {bucket}"))?;
        Ok(())
    }

    /// Every object of `bucket` as `(key, etag)`.
    pub async fn list(&self, bucket: &str) -> anyhow::Result<Vec<(String, String)>> {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let objects: Vec<object_store::ObjectMeta> =
            self.client(bucket)?.list(None).try_collect().await?;
        objects
            .into_iter()
            .map(|m| {
                let etag = m
                    .e_tag
                    .with_context(|| format!("{} has no ETag", m.location))?;
                Ok((m.location.to_string(), etag))
            })
            .collect()
    }

    fn client(&self, bucket: &str) -> anyhow::Result<AmazonS3> {
        Ok(AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_bucket_name(bucket)
            .with_region(REGION)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .build()?)
    }

    async fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("moto_server exited during start-up: {status}");
            }
            let url = format!("{}/moto-api/", self.endpoint());
            if client.get(&url).send().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "moto_server did not answer on port {} within 30s",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates the IAM user, its key and an allow-all policy, then turns authentication on.
    async fn enforce_auth(&mut self) -> anyhow::Result<()> {
        self.iam(&[("Action", "CreateUser"), ("UserName", "flotilla")])
            .await?;
        let key = self
            .iam(&[("Action", "CreateAccessKey"), ("UserName", "flotilla")])
            .await?;
        self.access_key_id = xml_text(&key, "AccessKeyId")?;
        self.secret_access_key = xml_text(&key, "SecretAccessKey")?;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        self.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "flotilla"),
            ("PolicyName", "all"),
            ("PolicyDocument", policy),
        ])
        .await?;
        self.set_no_auth_count(0).await
    }

    async fn iam(&self, params: &[(&str, &str)]) -> anyhow::Result<String> {
        let mut body = String::from("Version=2010-05-08");
        for (k, v) in params {
            body.push('&');
            body.push_str(k);
            body.push('=');
            body.push_str(&percent_encode(v));
        }
        let response = reqwest::Client::new()
            .post(format!("{}/", self.endpoint()))
            .header("Authorization", unsigned_authorization("iam"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("moto IAM {params:?}: {status}: {text}");
        }
        Ok(text)
    }

    /// Lets the next `count` requests through without authentication (0: enforce).
    async fn set_no_auth_count(&self, count: u32) -> anyhow::Result<()> {
        let response = reqwest::Client::new()
            .post(format!("{}/moto-api/reset-auth", self.endpoint()))
            .header("Content-Type", "text/plain")
            .body(count.to_string())
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("moto reset-auth: {}", response.status());
        }
        Ok(())
    }
}

/// An `Authorization` header that names `service` in its credential scope, for moto's
/// routing; it is not a valid signature.
fn unsigned_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/{REGION}/{service}/aws4_request, \
         SignedHeaders=host, Signature=00"
    )
}

fn xml_text(xml: &str, tag: &str) -> anyhow::Result<String> {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .with_context(|| format!("no <{tag}> in {xml}"))?
        + open.len();
    let end = xml[start..]
        .find(&format!("</{tag}>"))
        .with_context(|| format!("no </{tag}> in {xml}"))?;
    Ok(xml[start..start + end].to_owned())
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_extracts() {
        assert_eq!(percent_encode("a b/{\"}"), "a%20b%2F%7B%22%7D");
        assert_eq!(
            xml_text("<x><AccessKeyId>AKIA1</AccessKeyId></x>", "AccessKeyId").unwrap(),
            "AKIA1"
        );
        assert!(xml_text("<x/>", "AccessKeyId").is_err());
    }
}
