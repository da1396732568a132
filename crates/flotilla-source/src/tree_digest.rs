//! The digest of an artifact directory: SHA-256 over a canonical walk of the tree, so the
//! same content has the same digest wherever and whenever it was fetched.
//!
//! The walk visits entries depth-first with each directory's children sorted by name
//! (bytes), and feeds the hash one record per entry:
//!
//! ```text
//! dir:      "d" <path> NUL
//! file:     "f" <"x" if executable else "-"> <path> NUL <length as u64 BE> <content>
//! symlink:  "l" <path> NUL <target> NUL
//! ```
//!
//! Paths are relative to the artifact root with `/` separators. Only the executable bit of
//! a file's mode is part of the content (as in Git); timestamps and owners are not.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use flotilla_api::revision::{Digest, DigestAlgorithm};
use sha2::{Digest as _, Sha256};

use crate::error::SourceError;

/// What a walk of an artifact tree found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSummary {
    /// `sha256:<hex>` over the canonical walk.
    pub digest: Digest,
    /// Total bytes of file contents.
    pub size: u64,
    /// Number of files and symlinks.
    pub files: u64,
}

/// Walks `root` and digests it. Symlinks are recorded, never followed.
pub fn digest_tree(root: &Path) -> Result<TreeSummary, SourceError> {
    let mut walk = Walk {
        hasher: Sha256::new(),
        size: 0,
        files: 0,
    };
    walk.dir(root, b"")?;
    let hex = hex(&walk.hasher.finalize());
    let digest = Digest::new(DigestAlgorithm::Sha256, hex)
        // A SHA-256 output is always 64 lowercase hex characters.
        .map_err(|e| SourceError::Rejected(format!("internal digest error: {e}")))?;
    Ok(TreeSummary {
        digest,
        size: walk.size,
        files: walk.files,
    })
}

struct Walk {
    hasher: Sha256,
    size: u64,
    files: u64,
}

impl Walk {
    fn dir(&mut self, dir: &Path, rel: &[u8]) -> Result<(), SourceError> {
        let mut entries = fs::read_dir(dir)
            .map_err(|e| SourceError::io(dir, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SourceError::io(dir, &e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let mut child = rel.to_vec();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(entry.file_name().as_bytes());
            let meta = fs::symlink_metadata(&path).map_err(|e| SourceError::io(&path, &e))?;
            let kind = meta.file_type();
            if kind.is_symlink() {
                let target = fs::read_link(&path).map_err(|e| SourceError::io(&path, &e))?;
                self.record(b"l", &child);
                self.hasher.update(target.as_os_str().as_bytes());
                self.hasher.update([0]);
                self.files += 1;
            } else if kind.is_dir() {
                self.record(b"d", &child);
                self.dir(&path, &child)?;
            } else {
                let exec = meta.permissions().mode() & 0o111 != 0;
                self.record(if exec { b"fx" } else { b"f-" }, &child);
                self.hasher.update(meta.len().to_be_bytes());
                self.file(&path)?;
                self.size += meta.len();
                self.files += 1;
            }
        }
        Ok(())
    }

    fn record(&mut self, tag: &[u8], rel: &[u8]) {
        self.hasher.update(tag);
        self.hasher.update(rel);
        self.hasher.update([0]);
    }

    fn file(&mut self, path: &Path) -> Result<(), SourceError> {
        let mut file = fs::File::open(path).map_err(|e| SourceError::io(path, &e))?;
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(|e| SourceError::io(path, &e))?;
            if n == 0 {
                return Ok(());
            }
            self.hasher.update(&buf[..n]);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_same_digest_and_mode_matters() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for root in [a.path(), b.path()] {
            fs::create_dir(root.join("sub")).unwrap();
            fs::write(root.join("sub/x.yaml"), "x: 1\n").unwrap();
            fs::write(root.join("a.yaml"), "a: 1\n").unwrap();
        }
        let da = digest_tree(a.path()).unwrap();
        assert_eq!(da, digest_tree(b.path()).unwrap());
        assert_eq!(da.size, 10);
        assert_eq!(da.files, 2);

        fs::set_permissions(b.path().join("a.yaml"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(da.digest, digest_tree(b.path()).unwrap().digest);
    }

    #[test]
    fn moving_a_file_changes_the_digest() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::write(a.path().join("ab"), "").unwrap();
        fs::create_dir(b.path().join("a")).unwrap();
        fs::write(b.path().join("a/b"), "").unwrap();
        assert_ne!(
            digest_tree(a.path()).unwrap().digest,
            digest_tree(b.path()).unwrap().digest
        );
    }
}
