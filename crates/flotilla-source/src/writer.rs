//! Building one artifact: entries are added one by one into a temporary directory inside
//! the store, each checked before anything touches the disk.
//!
//! The checks are what make it safe to unpack content from the network:
//! - a path must be relative, with no empty, `.` or `..` component;
//! - nothing is written through a symlink added earlier (no `link/file`), and files are
//!   created with `O_EXCL`, so an existing symlink is never followed;
//! - a symlink's target must stay inside the artifact: absolute targets and lexical escapes
//!   are refused at once, and at [`ArtifactWriter::finish`] every symlink is resolved by
//!   the filesystem and must land on an existing entry inside the tree (this catches chains
//!   such as `a -> .` followed by `b -> a/..`);
//! - the store's [`Limits`] on bytes and files are checked before each write.
//!
//! A writer that is dropped without finishing removes its temporary directory.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use flotilla_api::revision::Revision;

use crate::error::SourceError;
use crate::store::{Artifact, ArtifactStore, Limits, remove_tree};
use crate::tree_digest::TreeHasher;

/// An artifact under construction. See the module docs for what it refuses.
#[derive(Debug)]
pub struct ArtifactWriter {
    store: ArtifactStore,
    tmp: PathBuf,
    limits: Limits,
    bytes: u64,
    files: u64,
    symlinks: HashSet<Vec<u8>>,
    dirs: HashSet<Vec<u8>>,
    hasher: TreeHasher,
    done: bool,
}

impl ArtifactWriter {
    pub(crate) fn create(
        store: ArtifactStore,
        tmp: PathBuf,
        limits: Limits,
    ) -> Result<Self, SourceError> {
        fs::create_dir(&tmp).map_err(|e| SourceError::io(&tmp, &e))?;
        Ok(Self {
            store,
            tmp,
            limits,
            bytes: 0,
            files: 0,
            symlinks: HashSet::new(),
            dirs: HashSet::new(),
            hasher: TreeHasher::default(),
            done: false,
        })
    }

    /// Adds a directory (and its parents) at `rel`, a `/`-separated relative path.
    pub fn add_dir(&mut self, rel: &[u8]) -> Result<(), SourceError> {
        let components = checked_components(rel)?;
        self.ensure_dirs(&components, components.len())
    }

    /// Adds a regular file with `contents`.
    pub fn add_file(
        &mut self,
        rel: &[u8],
        executable: bool,
        contents: &[u8],
    ) -> Result<(), SourceError> {
        self.add_file_reusing(rel, executable, contents, None)
    }

    /// Adds a regular file with `contents` which an earlier artifact already holds at
    /// `existing`: the file is hard-linked rather than written again (artifacts are
    /// read-only and never change, so they can share it). `contents` is still what the
    /// digest is computed from; when `existing` is missing or differs in size or mode, or
    /// cannot be linked, the file is written as usual.
    pub fn add_file_reusing(
        &mut self,
        rel: &[u8],
        executable: bool,
        contents: &[u8],
        existing: Option<&Path>,
    ) -> Result<(), SourceError> {
        let components = checked_components(rel)?;
        self.count_entry(contents.len() as u64, rel)?;
        self.ensure_dirs(&components, components.len() - 1)?;
        let path = self.tmp.join(OsStr::from_bytes(rel));
        self.hasher.file(rel, executable, contents);
        let reusable = existing.filter(|existing| {
            fs::symlink_metadata(existing).is_ok_and(|m| {
                m.is_file()
                    && m.len() == contents.len() as u64
                    && (m.permissions().mode() & 0o111 != 0) == executable
            })
        });
        if let Some(existing) = reusable
            && fs::hard_link(existing, &path).is_ok()
        {
            return Ok(());
        }
        // Created read-only: the descriptor we write through was opened before the mode
        // applies, and no one else needs to write it.
        let mode = if executable { 0o555 } else { 0o444 };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| SourceError::Rejected(format!("cannot create {}: {e}", show(rel))))?;
        file.write_all(contents)
            .map_err(|e| SourceError::io(&path, &e))?;
        Ok(())
    }

    /// Adds a symlink at `rel` pointing to the relative `target`.
    pub fn add_symlink(&mut self, rel: &[u8], target: &[u8]) -> Result<(), SourceError> {
        let components = checked_components(rel)?;
        if target.is_empty() || target.starts_with(b"/") {
            return Err(SourceError::Rejected(format!(
                "symlink {} points to the absolute or empty path {}",
                show(rel),
                show(target)
            )));
        }
        // Lexical check: the target, taken from the link's directory, must not climb above
        // the root. Chains through other symlinks are checked in `finish`.
        let mut depth = components.len() as i64 - 1;
        for part in target.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => depth -= 1,
                _ => depth += 1,
            }
            if depth < 0 {
                return Err(SourceError::Rejected(format!(
                    "symlink {} points outside the artifact ({})",
                    show(rel),
                    show(target)
                )));
            }
        }
        self.count_entry(0, rel)?;
        self.ensure_dirs(&components, components.len() - 1)?;
        let path = self.tmp.join(OsStr::from_bytes(rel));
        symlink(OsStr::from_bytes(target), &path)
            .map_err(|e| SourceError::Rejected(format!("cannot create {}: {e}", show(rel))))?;
        self.symlinks.insert(rel.to_vec());
        self.hasher.symlink(rel, target);
        Ok(())
    }

    /// Checks the symlinks, digests the tree, makes it read-only and publishes it under
    /// its digest. Content already in the store is reused, not duplicated.
    pub fn finish(mut self, revision: Revision) -> Result<Artifact, SourceError> {
        self.check_symlinks()?;
        let digest = self.hasher.digest()?;
        let (path, last_update_time) = self.store.publish(&self.tmp, &digest)?;
        self.done = true;
        Ok(Artifact {
            revision,
            digest,
            size: self.bytes,
            files: self.files,
            path,
            last_update_time,
        })
    }

    /// Checks that one more entry of `bytes` would fit the limits, without adding it, so a
    /// caller can refuse content before loading it into memory.
    pub fn check_room(&self, rel: &[u8], bytes: u64) -> Result<(), SourceError> {
        if self.files + 1 > self.limits.max_files {
            return Err(SourceError::Rejected(format!(
                "more than {} files (at {})",
                self.limits.max_files,
                show(rel)
            )));
        }
        if self.bytes.saturating_add(bytes) > self.limits.max_bytes {
            return Err(SourceError::Rejected(format!(
                "more than {} bytes (at {})",
                self.limits.max_bytes,
                show(rel)
            )));
        }
        Ok(())
    }

    fn count_entry(&mut self, bytes: u64, rel: &[u8]) -> Result<(), SourceError> {
        self.check_room(rel, bytes)?;
        self.files += 1;
        self.bytes += bytes;
        Ok(())
    }

    /// Creates the first `count` components as directories, refusing to go through a
    /// symlink.
    fn ensure_dirs(&mut self, components: &[&[u8]], count: usize) -> Result<(), SourceError> {
        let mut prefix = Vec::new();
        for component in &components[..count] {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(component);
            if self.symlinks.contains(&prefix) {
                return Err(SourceError::Rejected(format!(
                    "{} would be written through the symlink {}",
                    show(&components.join(&b'/')),
                    show(&prefix)
                )));
            }
            if self.dirs.insert(prefix.clone()) {
                self.hasher.dir(&prefix);
                let path = self.tmp.join(OsStr::from_bytes(&prefix));
                match fs::create_dir(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => {}
                    Err(e) => {
                        return Err(SourceError::Rejected(format!(
                            "cannot create directory {}: {e}",
                            show(&prefix)
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_symlinks(&self) -> Result<(), SourceError> {
        let root = fs::canonicalize(&self.tmp).map_err(|e| SourceError::io(&self.tmp, &e))?;
        for rel in &self.symlinks {
            let link = self.tmp.join(OsStr::from_bytes(rel));
            match fs::canonicalize(&link) {
                Ok(resolved) if resolved.starts_with(&root) => {}
                Ok(_) => {
                    return Err(SourceError::Rejected(format!(
                        "symlink {} resolves outside the artifact",
                        show(rel)
                    )));
                }
                Err(_) => {
                    return Err(SourceError::Rejected(format!(
                        "symlink {} does not resolve to anything inside the artifact",
                        show(rel)
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Drop for ArtifactWriter {
    fn drop(&mut self) {
        if !self.done && self.tmp.exists() {
            // Best effort: a leftover is also removed when the store is next opened.
            let _ = remove_tree(&self.tmp);
        }
    }
}

/// Splits `rel` into components, refusing absolute paths and `..`, `.` or empty parts.
pub(crate) fn checked_components(rel: &[u8]) -> Result<Vec<&[u8]>, SourceError> {
    if rel.is_empty() || rel.starts_with(b"/") || rel.contains(&0) {
        return Err(SourceError::Rejected(format!(
            "path {} is empty, absolute or contains NUL",
            show(rel)
        )));
    }
    let components: Vec<&[u8]> = rel.split(|b| *b == b'/').collect();
    if components
        .iter()
        .any(|c| c.is_empty() || *c == b"." || *c == b"..")
    {
        return Err(SourceError::Rejected(format!(
            "path {} has an empty, '.' or '..' component",
            show(rel)
        )));
    }
    Ok(components)
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}
