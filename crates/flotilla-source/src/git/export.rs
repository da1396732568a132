//! Writes a commit's tree into an artifact, straight from the object database: no
//! working tree is checked out, so nothing in the repository is ever interpreted by a
//! checkout (no filters, hooks or attributes), and every entry goes through the
//! [`ArtifactWriter`]'s path checks. Ignored paths are skipped (a directory's
//! `.sourceignore` is read before its entries); submodules are left out.

use gix::ObjectId;
use gix::objs::tree::EntryKind;

use crate::error::SourceError;
use crate::ignore::IgnoreRules;
use crate::writer::ArtifactWriter;

/// Copies the tree of `commit` into `writer`, leaving out what `rules` ignore.
pub(crate) fn export_commit(
    repo: &gix::Repository,
    commit: ObjectId,
    rules: &mut IgnoreRules,
    writer: &mut ArtifactWriter,
) -> Result<(), SourceError> {
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree_id())
        .map_err(|e| corrupt(commit, &e))?;
    export_tree(repo, tree.detach(), b"", rules, writer)
}

fn export_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &[u8],
    rules: &mut IgnoreRules,
    writer: &mut ArtifactWriter,
) -> Result<(), SourceError> {
    let entries: Vec<(Vec<u8>, EntryKind, ObjectId)> = repo
        .find_tree(tree)
        .map_err(|e| corrupt(tree, &e))?
        .decode()
        .map_err(|e| corrupt(tree, &e))?
        .entries
        .iter()
        .map(|e| (e.filename.to_vec(), e.mode.kind(), e.oid.to_owned()))
        .collect();
    if let Some((_, _, id)) = entries
        .iter()
        .find(|(name, kind, _)| name == b".sourceignore" && *kind == EntryKind::Blob)
    {
        let blob = repo.find_blob(*id).map_err(|e| corrupt(*id, &e))?;
        rules.add_sourceignore(prefix, &blob.data);
    }
    for (name, kind, id) in entries {
        let mut path = prefix.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&name);
        match kind {
            EntryKind::Tree => {
                if !rules.is_ignored(&path, true) {
                    export_tree(repo, id, &path, rules, writer)?;
                }
            }
            EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => {
                if rules.is_ignored(&path, false) {
                    continue;
                }
                // Refuse an oversized blob from its header, before inflating it.
                let header = repo.find_header(id).map_err(|e| corrupt(id, &e))?;
                writer.check_room(&path, header.size())?;
                let blob = repo.find_blob(id).map_err(|e| corrupt(id, &e))?;
                match kind {
                    EntryKind::Link => writer.add_symlink(&path, &blob.data)?,
                    _ => writer.add_file(&path, kind == EntryKind::BlobExecutable, &blob.data)?,
                }
            }
            // A submodule: not fetched, as `recurseSubmodules` is not supported yet.
            EntryKind::Commit => {}
        }
    }
    Ok(())
}

fn corrupt(id: ObjectId, error: &dyn std::fmt::Display) -> SourceError {
    SourceError::Git {
        url: "the cache repository".into(),
        message: format!("cannot read object {id}: {error}"),
    }
}
