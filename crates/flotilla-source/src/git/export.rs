//! Writes a commit's tree into an artifact, straight from the object database: no
//! working tree is checked out, so nothing in the repository is ever interpreted by a
//! checkout (no filters, hooks or attributes), and every entry goes through the
//! [`ArtifactWriter`]'s path checks. Ignored paths are skipped (a directory's
//! `.sourceignore` is read before its entries); submodules are left out.
//!
//! Given the source's previous artifact and its commit, a file whose blob and mode are
//! unchanged at the same path is hard-linked from the previous artifact instead of
//! written again: a new commit touching a few files of thousands costs mostly directory
//! entries, not file writes.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use gix::ObjectId;
use gix::objs::tree::EntryKind;

use crate::error::SourceError;
use crate::ignore::IgnoreRules;
use crate::writer::ArtifactWriter;

/// The artifact a source published last and the commit it was exported from.
pub(crate) struct Previous<'a> {
    pub commit: ObjectId,
    pub dir: &'a Path,
}

/// Copies the tree of `commit` into `writer`, leaving out what `rules` ignore.
pub(crate) fn export_commit(
    repo: &gix::Repository,
    commit: ObjectId,
    previous: Option<Previous<'_>>,
    rules: &mut IgnoreRules,
    writer: &mut ArtifactWriter,
) -> Result<(), SourceError> {
    let tree_of = |commit: ObjectId| {
        repo.find_commit(commit)
            .and_then(|c| c.tree_id())
            .map(|id| id.detach())
    };
    let tree = tree_of(commit).map_err(|e| corrupt(commit, &e))?;
    // The previous commit may be gone from the cache; then nothing is reused.
    let previous = previous.and_then(|p| Some((tree_of(p.commit).ok()?, p.dir)));
    let mut export = Export {
        repo,
        previous_dir: previous.map(|(_, dir)| dir),
        rules,
        writer,
    };
    export.tree(tree, previous.map(|(tree, _)| tree), b"")
}

/// One export's state: where unchanged files can be linked from, and where to write.
struct Export<'a, 'w> {
    repo: &'a gix::Repository,
    previous_dir: Option<&'a Path>,
    rules: &'a mut IgnoreRules,
    writer: &'w mut ArtifactWriter,
}

type Entries = Vec<(Vec<u8>, EntryKind, ObjectId)>;

impl Export<'_, '_> {
    fn entries(&self, tree: ObjectId) -> Result<Entries, SourceError> {
        Ok(self
            .repo
            .find_tree(tree)
            .map_err(|e| corrupt(tree, &e))?
            .decode()
            .map_err(|e| corrupt(tree, &e))?
            .entries
            .iter()
            .map(|e| (e.filename.to_vec(), e.mode.kind(), e.oid.to_owned()))
            .collect())
    }

    /// Exports `tree` at `prefix`; `previous` is the tree at the same path in the
    /// previous commit, if there was one.
    fn tree(
        &mut self,
        tree: ObjectId,
        previous: Option<ObjectId>,
        prefix: &[u8],
    ) -> Result<(), SourceError> {
        let repo = self.repo;
        let entries = self.entries(tree)?;
        let previous: HashMap<Vec<u8>, (EntryKind, ObjectId)> = match previous {
            Some(tree) => self
                .entries(tree)?
                .into_iter()
                .map(|(name, kind, id)| (name, (kind, id)))
                .collect(),
            None => HashMap::new(),
        };
        if let Some((_, _, id)) = entries
            .iter()
            .find(|(name, kind, _)| name == b".sourceignore" && *kind == EntryKind::Blob)
        {
            let blob = repo.find_blob(*id).map_err(|e| corrupt(*id, &e))?;
            self.rules.add_sourceignore(prefix, &blob.data);
        }
        for (name, kind, id) in entries {
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            let before = previous.get(&name).copied();
            match kind {
                EntryKind::Tree => {
                    if !self.rules.is_ignored(&path, true) {
                        let before = before.filter(|(k, _)| *k == EntryKind::Tree);
                        self.tree(id, before.map(|(_, id)| id), &path)?;
                    }
                }
                EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => {
                    if self.rules.is_ignored(&path, false) {
                        continue;
                    }
                    // Refuse an oversized blob from its header, before inflating it.
                    let header = repo.find_header(id).map_err(|e| corrupt(id, &e))?;
                    self.writer.check_room(&path, header.size())?;
                    let blob = repo.find_blob(id).map_err(|e| corrupt(id, &e))?;
                    let executable = kind == EntryKind::BlobExecutable;
                    if kind == EntryKind::Link {
                        self.writer.add_symlink(&path, &blob.data)?;
                    } else {
                        let existing = self
                            .previous_dir
                            .filter(|_| before == Some((kind, id)))
                            .map(|dir| dir.join(OsStr::from_bytes(&path)));
                        self.writer.add_file_reusing(
                            &path,
                            executable,
                            &blob.data,
                            existing.as_deref(),
                        )?;
                    }
                }
                // A submodule: not fetched, as `recurseSubmodules` is not supported yet.
                EntryKind::Commit => {}
            }
        }
        Ok(())
    }
}

fn corrupt(id: ObjectId, error: &dyn std::fmt::Display) -> SourceError {
    SourceError::Git {
        url: "the cache repository".into(),
        message: format!("cannot read object {id}: {error}"),
    }
}
