//! Which paths of a source are left out of its artifact, in `.gitignore` syntax.
//!
//! As in Flux, version-control and CI files and common binary formats are always excluded;
//! the source's own `ignore` patterns come after them, so a `!pattern` there can bring a
//! default exclusion back. The last matching pattern wins; a directory that is excluded
//! is not descended into (Git's rule, so `!` cannot re-include a file below it).

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
    search: Search,
}

impl IgnoreRules {
    /// The defaults followed by `extra` (the source's `spec.ignore`), if any.
    pub fn new(extra: Option<&str>) -> Self {
        let mut search = Search::default();
        let parse = gix::ignore::search::Ignore {
            support_precious: false,
        };
        // Parsing an in-memory buffer without a root performs no I/O, so these cannot fail.
        let _ = search.add_patterns_buffer(DEFAULT_PATTERNS.as_bytes(), "defaults", None, parse);
        if let Some(extra) = extra {
            let _ = search.add_patterns_buffer(extra.as_bytes(), "spec.ignore", None, parse);
        }
        Self { search }
    }

    /// Whether the `/`-separated relative `path` is excluded.
    pub fn is_ignored(&self, path: &[u8], is_dir: bool) -> bool {
        self.search
            .pattern_matching_relative_path(BStr::new(path), Some(is_dir), Case::Sensitive)
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
}
