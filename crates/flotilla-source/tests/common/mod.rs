//! Helpers shared by the Git integration tests.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::path::Path;
use std::time::Duration;

use flotilla_source::git::{GitAuth, GitFetcher, GitSource, GitTarget};
use flotilla_source::{ArtifactStore, Limits};
use tempfile::TempDir;

/// A fetcher with its store and caches in a temporary directory.
pub struct Env {
    pub dir: TempDir,
    pub fetcher: GitFetcher,
}

pub fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("store"), Limits::default()).unwrap();
    let fetcher = GitFetcher::new(store, dir.path().join("cache"));
    Env { dir, fetcher }
}

/// An anonymous source with a 30 s timeout.
pub fn source(url: &str, target: GitTarget) -> GitSource {
    GitSource {
        url: url.to_owned(),
        target,
        auth: GitAuth::Anonymous,
        ignore: None,
        ca_cert: None,
        timeout: Duration::from_secs(30),
    }
}

pub fn branch(name: &str) -> GitTarget {
    GitTarget::Branch(name.into())
}

pub fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap()
}
