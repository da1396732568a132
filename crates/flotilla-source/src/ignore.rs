//! Which paths of a source are left out of its artifact, in `.gitignore` syntax.
//!
//! As in Flux, three layers apply, each overriding the one before: version-control and CI
//! files and common binary formats (always excluded); `.sourceignore` files found in the
//! tree, each relative to its own directory; and the source's `spec.ignore`. So a `!pattern`
//! in a later layer brings back what an earlier one excluded. Within a layer the last
//! matching pattern wins, and a directory that is excluded is not descended into (Git's
//! rule, so `!` cannot re-include a file below it).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use gix::bstr::BStr;
use gix::glob::pattern::Case;
use gix::ignore::Search;

/// Patterns every artifact excludes, as Flux's source-controller does.
const DEFAULT_PATTERNS: &str = "\
.git/
.gitignore
.gitmodules
.gitattributes
.github/
.circleci/
.travis.yml
.gitlab-ci.yml
appveyor.yml
.drone.yml
cloudbuild.yaml
codeship-services.yml
codeship-steps.yml
**/.goreleaser.yml
**/.sops.yaml
**/.flux.yaml
*.jpg
*.jpeg
*.gif
*.png
*.wmv
*.flv
*.tar.gz
*.zip
";

/// Compiled ignore rules for one source.
#[derive(Debug)]
pub struct IgnoreRules {
    /// Defaults, then `.sourceignore` files as the walk finds them.
    tree: Search,
    /// `spec.ignore`, consulted first.
    spec: Search,
}

const PARSE: gix::ignore::search::Ignore = gix::ignore::search::Ignore {
    support_precious: false,
};

impl IgnoreRules {
    /// The defaults followed by `extra` (the source's `spec.ignore`), if any.
    pub fn new(extra: Option<&str>) -> Self {
        let mut tree = Search::default();
        let mut spec = Search::default();
        // Parsing an in-memory buffer without a root performs no I/O, so these cannot fail.
        let _ = tree.add_patterns_buffer(DEFAULT_PATTERNS.as_bytes(), "defaults", None, PARSE);
        if let Some(extra) = extra {
            let _ = spec.add_patterns_buffer(extra.as_bytes(), "spec.ignore", None, PARSE);
        }
        Self { tree, spec }
    }

    /// Adds the patterns of the `.sourceignore` file in directory `dir` (`/`-separated,
    /// empty for the root); they apply to paths below `dir`, relative to it.
    pub fn add_sourceignore(&mut self, dir: &[u8], patterns: &[u8]) {
        let mut source = PathBuf::from(OsStr::from_bytes(dir));
        source.push(".sourceignore");
        // With a root, the list's base is the file's directory; no I/O happens.
        let _ = self
            .tree
            .add_patterns_buffer(patterns, source, Some(Path::new("")), PARSE);
    }

    /// Whether the `/`-separated relative `path` is excluded.
    pub fn is_ignored(&self, path: &[u8], is_dir: bool) -> bool {
        let path = BStr::new(path);
        self.spec
            .pattern_matching_relative_path(path, Some(is_dir), Case::Sensitive)
            .or_else(|| {
                self.tree
                    .pattern_matching_relative_path(path, Some(is_dir), Case::Sensitive)
            })
            .is_some_and(|m| !m.pattern.is_negative())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_user_patterns() {
        let rules = IgnoreRules::new(Some("secrets/\n*.bak\n!keep.png\n"));
        assert!(rules.is_ignored(b".git", true));
        assert!(rules.is_ignored(b".github", true));
        assert!(rules.is_ignored(b"logo.png", false));
        assert!(!rules.is_ignored(b"keep.png", false));
        assert!(rules.is_ignored(b"apps/secrets", true));
        assert!(!rules.is_ignored(b"apps/secrets", false));
        assert!(rules.is_ignored(b"apps/x.bak", false));
        assert!(!rules.is_ignored(b"apps/deploy.yaml", false));
        assert!(!IgnoreRules::new(None).is_ignored(b"apps/x.bak", false));
    }

    #[test]
    fn sourceignore_files_apply_below_their_directory_and_spec_wins() {
        let mut rules = IgnoreRules::new(Some("!apps/keep.tmp\n"));
        rules.add_sourceignore(b"", b"*.log\n");
        rules.add_sourceignore(b"apps", b"*.tmp\n/local.yaml\n");
        assert!(rules.is_ignored(b"x.log", false));
        assert!(rules.is_ignored(b"apps/a/b.tmp", false));
        assert!(rules.is_ignored(b"apps/local.yaml", false));
        assert!(!rules.is_ignored(b"apps/a/local.yaml", false));
        assert!(!rules.is_ignored(b"other/b.tmp", false));
        assert!(!rules.is_ignored(b"apps/keep.tmp", false));
    }
}
