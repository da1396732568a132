//! Unpacking a tarball (gzip-compressed or not) from the network into an
//! [`ArtifactWriter`]: Helm charts and OCI layers.
//!
//! Every entry goes through the writer, whose checks make unpacking safe (no absolute paths,
//! no `..`, nothing written through a symlink, symlinks must resolve inside the artifact, the
//! store's size and file limits); nothing here touches the disk itself. Entries are taken
//! as a tar tool would: a leading `./` is dropped, directories, regular files and symlinks are
//! kept, hard links are refused (they could alias a file outside what the writer tracks), and
//! devices and FIFOs are skipped.

use std::io::Read;

use flate2::read::GzDecoder;

use crate::error::SourceError;
use crate::ignore::IgnoreRules;
use crate::writer::{ArtifactWriter, checked_components};

/// Unpacks `bytes` (a tarball, gzip-compressed when it starts with gzip's magic number) into
/// `writer`, leaving out what `ignore` excludes. `what` names the archive in errors.
pub fn unpack(
    bytes: &[u8],
    what: &str,
    ignore: Option<&IgnoreRules>,
    writer: &mut ArtifactWriter,
) -> Result<(), SourceError> {
    let bad =
        |e: std::io::Error| SourceError::Rejected(format!("{what} is not a valid tarball: {e}"));
    let reader: Box<dyn Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path_bytes().into_owned();
        let mut path: &[u8] = &raw;
        while let Some(rest) = path.strip_prefix(b"./") {
            path = rest;
        }
        let path = path.strip_suffix(b"/").unwrap_or(path);
        if path.is_empty() || path == b"." {
            continue;
        }
        let kind = entry.header().entry_type();
        // The writer refuses bad paths too, but ignore rules must never see one.
        checked_components(path)?;
        if ignore.is_some_and(|rules| is_ignored(rules, path, kind.is_dir())) {
            continue;
        }
        match kind {
            tar::EntryType::Directory => writer.add_dir(path)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(bad)?;
                // Refuse an oversized entry before reading it into memory.
                writer.check_room(path, size)?;
                let mut contents = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                entry.read_to_end(&mut contents).map_err(bad)?;
                let executable = entry.header().mode().map_err(bad)? & 0o111 != 0;
                writer.add_file(path, executable, &contents)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        SourceError::Rejected(format!(
                            "{what}: symlink {} has no target",
                            String::from_utf8_lossy(path)
                        ))
                    })?
                    .into_owned();
                writer.add_symlink(path, &target)?;
            }
            tar::EntryType::Link => {
                return Err(SourceError::Rejected(format!(
                    "{what}: hard link {} is not allowed",
                    String::from_utf8_lossy(path)
                )));
            }
            _ => {
                tracing::debug!(path = %String::from_utf8_lossy(path), ?kind, "skipping tar entry")
            }
        }
    }
    Ok(())
}

/// Whether `path` or one of its parent directories is excluded (a tarball lists entries in
/// any order, so the parents are checked rather than skipped while walking).
fn is_ignored(rules: &IgnoreRules, path: &[u8], is_dir: bool) -> bool {
    let parents = path
        .iter()
        .enumerate()
        .filter(|(_, byte)| **byte == b'/')
        .map(|(i, _)| &path[..i]);
    parents.into_iter().any(|dir| rules.is_ignored(dir, true)) || rules.is_ignored(path, is_dir)
}
