//! The digest of an artifact tree: SHA-256 over a canonical listing of its entries, so the
//! same content has the same digest wherever and whenever it was fetched.
//!
//! The [`ArtifactWriter`](crate::writer::ArtifactWriter) records every entry as it writes
//! it (no second pass reading the tree back), and the digest is taken over the entries
//! sorted by their relative path (bytes, `/`-separated), one record each:
//!
//! ```text
//! dir:      "d" <path> NUL
//! file:     "f" <"x" if executable else "-"> <path> NUL <length as u64 BE> <sha256(content)>
//! symlink:  "l" <path> NUL <target> NUL
//! ```
//!
//! Only the executable bit of a file's mode is content (as in Git); times and owners are not.

use std::collections::BTreeMap;

use flotilla_api::revision::{Digest, DigestAlgorithm};
use sha2::{Digest as _, Sha256};

use crate::error::SourceError;

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir,
    File {
        executable: bool,
        len: u64,
        sha256: [u8; 32],
    },
    Symlink(Vec<u8>),
}

/// The entries of a tree under construction, by relative path.
#[derive(Debug, Default)]
pub struct TreeHasher {
    entries: BTreeMap<Vec<u8>, Entry>,
}

impl TreeHasher {
    /// Records a directory (recording it twice is harmless).
    pub fn dir(&mut self, path: &[u8]) {
        self.entries.insert(path.to_vec(), Entry::Dir);
    }

    /// Records a file with its contents.
    pub fn file(&mut self, path: &[u8], executable: bool, contents: &[u8]) {
        let sha256 = Sha256::digest(contents).into();
        let len = contents.len() as u64;
        self.entries.insert(
            path.to_vec(),
            Entry::File {
                executable,
                len,
                sha256,
            },
        );
    }

    /// Records a symlink and its target.
    pub fn symlink(&mut self, path: &[u8], target: &[u8]) {
        self.entries
            .insert(path.to_vec(), Entry::Symlink(target.to_vec()));
    }

    /// `sha256:<hex>` over the sorted records.
    pub fn digest(&self) -> Result<Digest, SourceError> {
        let mut hasher = Sha256::new();
        for (path, entry) in &self.entries {
            let tag: &[u8] = match entry {
                Entry::Dir => b"d",
                Entry::File {
                    executable: true, ..
                } => b"fx",
                Entry::File { .. } => b"f-",
                Entry::Symlink(_) => b"l",
            };
            hasher.update(tag);
            hasher.update(path);
            hasher.update([0]);
            match entry {
                Entry::Dir => {}
                Entry::File { len, sha256, .. } => {
                    hasher.update(len.to_be_bytes());
                    hasher.update(sha256);
                }
                Entry::Symlink(target) => {
                    hasher.update(target);
                    hasher.update([0]);
                }
            }
        }
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // A SHA-256 output is always 64 lowercase hex characters.
        Digest::new(DigestAlgorithm::Sha256, hex)
            .map_err(|e| SourceError::Rejected(format!("internal digest error: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(f: impl FnOnce(&mut TreeHasher)) -> Digest {
        let mut t = TreeHasher::default();
        f(&mut t);
        t.digest().unwrap()
    }

    #[test]
    fn order_of_recording_does_not_matter_but_content_mode_and_place_do() {
        let base = tree(|t| {
            t.dir(b"sub");
            t.file(b"sub/x.yaml", false, b"x: 1\n");
            t.file(b"a.yaml", false, b"a: 1\n");
        });
        let reordered = tree(|t| {
            t.file(b"a.yaml", false, b"a: 1\n");
            t.file(b"sub/x.yaml", false, b"x: 1\n");
            t.dir(b"sub");
        });
        assert_eq!(base, reordered);
        let executable = tree(|t| {
            t.dir(b"sub");
            t.file(b"sub/x.yaml", false, b"x: 1\n");
            t.file(b"a.yaml", true, b"a: 1\n");
        });
        assert_ne!(base, executable);
        let moved = tree(|t| {
            t.file(b"ab", false, b"");
        });
        let nested = tree(|t| {
            t.dir(b"a");
            t.file(b"a/b", false, b"");
        });
        assert_ne!(moved, nested);
        let link = tree(|t| t.symlink(b"l", b"a"));
        let file = tree(|t| t.file(b"l", false, b"a"));
        assert_ne!(link, file);
    }
}
