//! A private, writable copy of an artifact for one build.
//!
//! Artifacts are shared by every deployer and cluster, so a build never writes into one.
//! Instead the tree is copied into a temporary directory, where a generated
//! `kustomization.yaml` and the deployer's overlay can be added. The copy is also where
//! the artifact is confined: symlinks are resolved while copying, and one that leads out of
//! the artifact is left out, so kustomize cannot follow it to the hub's own files.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Deepest directory nesting copied; deeper means a symlink loop inside the artifact.
const MAX_DEPTH: usize = 64;

/// Why a path given by the deployer is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {path:?} leaves the artifact")]
pub struct PathEscapes {
    /// `path` or `component`.
    pub what: &'static str,
    /// As the deployer wrote it.
    pub path: String,
}

/// Normalizes a deployer's relative path lexically (`./a/../b` is `b`), refusing an
/// absolute path or one that climbs above `base` (itself relative to the artifact root).
pub(crate) fn join_inside(
    base: &Path,
    relative: &str,
    what: &'static str,
) -> Result<PathBuf, PathEscapes> {
    let escapes = || PathEscapes {
        what,
        path: relative.to_owned(),
    };
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for component in base.components().chain(Path::new(relative).components()) {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop().ok_or_else(escapes)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
    }
    Ok(out.iter().collect())
}

/// What the copy left out.
#[derive(Debug, Default)]
pub(crate) struct CopyReport {
    /// Symlinks (relative to the artifact root) that point outside it, or nowhere.
    pub(crate) skipped_links: Vec<PathBuf>,
}

/// Copies the artifact at `from` into `to` (which must not exist), following symlinks that
/// stay inside the artifact.
pub(crate) fn copy_artifact(from: &Path, to: &Path) -> io::Result<CopyReport> {
    let root = from.canonicalize()?;
    let mut report = CopyReport::default();
    copy_dir(&root, &root, to, Path::new(""), 0, &mut report)?;
    Ok(report)
}

fn copy_dir(
    root: &Path,
    dir: &Path,
    to: &Path,
    relative: &Path,
    depth: usize,
    report: &mut CopyReport,
) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other(format!(
            "{} is nested more than {MAX_DEPTH} directories deep (a symlink loop?)",
            relative.display()
        )));
    }
    fs::create_dir(to)?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let source = entry.path();
        let target = to.join(&name);
        let relative = relative.join(&name);
        let mut file_type = entry.file_type()?;
        let mut source_path = source.clone();
        if file_type.is_symlink() {
            match source.canonicalize() {
                Ok(resolved) if resolved.starts_with(root) => {
                    file_type = fs::metadata(&resolved)?.file_type();
                    source_path = resolved;
                }
                _ => {
                    report.skipped_links.push(relative);
                    continue;
                }
            }
        }
        if file_type.is_dir() {
            copy_dir(root, &source_path, &target, &relative, depth + 1, report)?;
        } else if file_type.is_file() {
            fs::copy(&source_path, &target)?;
        }
        // Sockets, FIFOs and devices have no place in manifests; they are not copied.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_and_confined() {
        let root = Path::new("");
        assert_eq!(
            join_inside(root, "./apps/web", "path"),
            Ok(PathBuf::from("apps/web"))
        );
        assert_eq!(join_inside(root, "", "path"), Ok(PathBuf::new()));
        assert_eq!(
            join_inside(Path::new("apps/web"), "../../components/x", "component"),
            Ok(PathBuf::from("components/x"))
        );
        assert!(join_inside(root, "../x", "path").is_err());
        assert!(join_inside(root, "a/../../x", "path").is_err());
        assert!(join_inside(root, "/etc", "path").is_err());
        assert!(join_inside(Path::new("a"), "../../x", "component").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_artifact_are_not_copied() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.yaml"), "x: 1").unwrap();
        let artifact = tempfile::tempdir().unwrap();
        fs::create_dir(artifact.path().join("app")).unwrap();
        fs::write(artifact.path().join("app/cm.yaml"), "a: 1").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.yaml"),
            artifact.path().join("app/leak.yaml"),
        )
        .unwrap();
        std::os::unix::fs::symlink("cm.yaml", artifact.path().join("app/alias.yaml")).unwrap();
        std::os::unix::fs::symlink("app", artifact.path().join("app2")).unwrap();

        let work = tempfile::tempdir().unwrap();
        let to = work.path().join("copy");
        let mut skipped = copy_artifact(artifact.path(), &to).unwrap().skipped_links;
        skipped.sort();
        assert_eq!(
            skipped,
            [
                PathBuf::from("app/leak.yaml"),
                PathBuf::from("app2/leak.yaml")
            ]
        );
        assert!(!to.join("app/leak.yaml").exists());
        assert_eq!(
            fs::read_to_string(to.join("app/alias.yaml")).unwrap(),
            "a: 1"
        );
        assert!(to.join("app2/cm.yaml").is_file());
    }
}
