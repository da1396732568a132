//! Revisions and digests in Flux's format.
//!
//! A [`Digest`] is `<algorithm>:<lowercase hex>`, e.g. `sha256:9f86d0…`. A [`Revision`]
//! says where an artifact came from: an optional human-readable name (branch, tag, ref,
//! chart version) joined by `@` to the digest of what it pointed at:
//!
//! | origin                 | revision                        |
//! |------------------------|---------------------------------|
//! | Git branch `main`      | `main@sha1:<commit>`            |
//! | Git tag `v1.2.0`       | `v1.2.0@sha1:<commit>`          |
//! | Git commit             | `sha1:<commit>`                 |
//! | OCI tag `6.1`          | `6.1@sha256:<manifest digest>`  |
//! | OCI digest, bucket     | `sha256:<digest>`               |

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Why a revision or digest string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RevisionError {
    /// Nothing to parse.
    #[error("revision is empty")]
    Empty,
    /// No `<algorithm>:` prefix.
    #[error("digest {0:?} has no algorithm (expected `<algorithm>:<hex>`)")]
    MissingAlgorithm(String),
    /// An algorithm Flotilla does not know.
    #[error("unknown digest algorithm {0:?} (expected sha1, sha256, sha384 or sha512)")]
    UnknownAlgorithm(String),
    /// The hex part has the wrong length for the algorithm.
    #[error("{algorithm} digest must have {expected} hex characters, found {found}")]
    BadLength {
        /// The digest's algorithm.
        algorithm: DigestAlgorithm,
        /// The length the algorithm produces.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// The hex part holds something other than lowercase hex digits.
    #[error("digest {0:?} must be lowercase hexadecimal")]
    NotHex(String),
    /// `@` with nothing before it.
    #[error("revision {0:?} has an empty name before '@'")]
    EmptyName(String),
}

/// A digest algorithm: sha1 for Git commits, the SHA-2 family for content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// Git object ids.
    Sha1,
    /// Content digests, OCI manifests.
    Sha256,
    /// Content digests.
    Sha384,
    /// Content digests.
    Sha512,
}

impl DigestAlgorithm {
    /// The name used in digests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Number of hex characters in a digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha1 => 40,
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DigestAlgorithm {
    type Err = RevisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha384" => Ok(Self::Sha384),
            "sha512" => Ok(Self::Sha512),
            other => Err(RevisionError::UnknownAlgorithm(other.to_owned())),
        }
    }
}

/// A validated `<algorithm>:<hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// A digest from its parts; `hex` must be lowercase and as long as the algorithm needs.
    pub fn new(algorithm: DigestAlgorithm, hex: impl Into<String>) -> Result<Self, RevisionError> {
        let hex = hex.into();
        if hex.len() != algorithm.hex_len() {
            return Err(RevisionError::BadLength {
                algorithm,
                expected: algorithm.hex_len(),
                found: hex.len(),
            });
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(RevisionError::NotHex(hex));
        }
        Ok(Self { algorithm, hex })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lowercase hex value.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for Digest {
    type Err = RevisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(RevisionError::Empty);
        }
        let (algorithm, hex) = s
            .split_once(':')
            .ok_or_else(|| RevisionError::MissingAlgorithm(s.to_owned()))?;
        Self::new(algorithm.parse()?, hex)
    }
}

/// Where an artifact came from: `[<name>@]<digest>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Revision {
    name: Option<String>,
    digest: Digest,
}

impl Revision {
    /// A revision of a named ref (branch, tag, chart version) that pointed at `digest`.
    pub fn named(name: impl Into<String>, digest: Digest) -> Result<Self, RevisionError> {
        let name = name.into();
        if name.is_empty() {
            return Err(RevisionError::EmptyName(format!("@{digest}")));
        }
        Ok(Self {
            name: Some(name),
            digest,
        })
    }

    /// A revision that is just a digest (a pinned commit, an OCI digest, bucket content).
    pub fn digest_only(digest: Digest) -> Self {
        Self { name: None, digest }
    }

    /// The branch, tag or version, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The revision with the digest cut to `hex_chars` characters, for tables and logs
    /// (`main@sha1:1a2b3c4`). Not parseable back.
    pub fn short(&self, hex_chars: usize) -> String {
        let hex = &self.digest.hex[..hex_chars.min(self.digest.hex.len())];
        match &self.name {
            Some(name) => format!("{name}@{}:{hex}", self.digest.algorithm),
            None => format!("{}:{hex}", self.digest.algorithm),
        }
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name}@{}", self.digest),
            None => write!(f, "{}", self.digest),
        }
    }
}

impl FromStr for Revision {
    type Err = RevisionError;

    /// Splits at the last `@`: Git ref names may contain `@`, digests never do.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(RevisionError::Empty);
        }
        match s.rsplit_once('@') {
            Some(("", _)) => Err(RevisionError::EmptyName(s.to_owned())),
            Some((name, digest)) => Self::named(name, digest.parse()?),
            None => Ok(Self::digest_only(s.parse()?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1: &str = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";
    const SHA256: &str = "d7e924b4882e55b3e37fb4d2c5d8e8a0d6f3e2e29b6b4a4c7d1e8f4a5b6c7d8e";

    #[test]
    fn parses_and_prints_every_flux_form() {
        for text in [
            format!("main@sha1:{SHA1}"),
            format!("v1.2.0@sha1:{SHA1}"),
            format!("refs/pull/4@x/head@sha1:{SHA1}"),
            format!("sha1:{SHA1}"),
            format!("6.1.0@sha256:{SHA256}"),
            format!("sha256:{SHA256}"),
        ] {
            let revision: Revision = text.parse().unwrap();
            assert_eq!(revision.to_string(), text);
        }
    }

    #[test]
    fn splits_name_at_last_at_sign() {
        let revision: Revision = format!("feature@2@sha1:{SHA1}").parse().unwrap();
        assert_eq!(revision.name(), Some("feature@2"));
        assert_eq!(revision.digest().algorithm(), DigestAlgorithm::Sha1);
        assert_eq!(revision.digest().hex(), SHA1);
    }

    #[test]
    fn builds_named_revision() {
        let digest = Digest::new(DigestAlgorithm::Sha1, SHA1).unwrap();
        let revision = Revision::named("main", digest).unwrap();
        assert_eq!(revision.to_string(), format!("main@sha1:{SHA1}"));
        assert_eq!(revision.short(7), "main@sha1:5394cb7");
        assert!(Revision::named("", Digest::new(DigestAlgorithm::Sha1, SHA1).unwrap()).is_err());
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!("".parse::<Revision>(), Err(RevisionError::Empty));
        assert_eq!(
            format!("@sha1:{SHA1}").parse::<Revision>(),
            Err(RevisionError::EmptyName(format!("@sha1:{SHA1}")))
        );
        assert_eq!(
            "main@deadbeef".parse::<Revision>(),
            Err(RevisionError::MissingAlgorithm("deadbeef".into()))
        );
        assert_eq!(
            format!("md5:{SHA1}").parse::<Digest>(),
            Err(RevisionError::UnknownAlgorithm("md5".into()))
        );
        assert_eq!(
            format!("sha256:{SHA1}").parse::<Digest>(),
            Err(RevisionError::BadLength {
                algorithm: DigestAlgorithm::Sha256,
                expected: 64,
                found: 40
            })
        );
        assert!(matches!(
            format!("sha1:{}", SHA1.to_uppercase()).parse::<Digest>(),
            Err(RevisionError::NotHex(_))
        ));
    }
}
