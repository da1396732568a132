//! Which ref of a repository to fetch, from a `GitRepository`'s `spec.ref`, with Flux's
//! precedence when several are set: `commit` > `name` > `semver` > `tag` > `branch`, and the
//! `master` branch when none is (Flux's default).

use flotilla_api::source::GitRepositoryRef;
use gix::ObjectId;

use crate::error::SourceError;
use crate::version_range::{VersionRange, parse_version};

/// A resolved choice of what to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GitTarget {
    /// A commit; with a branch, the revision is named after the branch as in Flux.
    Commit {
        /// The commit.
        id: ObjectId,
        /// The branch named next to it, if any.
        branch: Option<String>,
    },
    /// A full ref name such as `refs/pull/4/head`.
    Name(String),
    /// The highest tag matching a version constraint (Flux/Masterminds syntax, see
    /// [`crate::version_range`]).
    Semver(String),
    /// A tag.
    Tag(String),
    /// A branch.
    Branch(String),
}

impl GitTarget {
    /// Applies Flux's precedence to `reference`.
    pub fn from_ref(reference: Option<&GitRepositoryRef>) -> Result<Self, SourceError> {
        let Some(r) = reference else {
            return Ok(Self::Branch("master".into()));
        };
        let set = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        if let Some(commit) = set(&r.commit) {
            let id = ObjectId::from_hex(commit.as_bytes())
                .ok()
                .filter(|_| commit.len() == 40)
                .ok_or_else(|| {
                    SourceError::InvalidSpec(format!(
                        "commit {commit:?} is not a full 40-character SHA-1"
                    ))
                })?;
            return Ok(Self::Commit {
                id,
                branch: set(&r.branch),
            });
        }
        if let Some(name) = set(&r.name) {
            if !name.starts_with("refs/")
                || gix::validate::reference::name(name.as_str().into()).is_err()
            {
                return Err(SourceError::InvalidSpec(format!(
                    "ref name {name:?} must be a full ref starting with refs/"
                )));
            }
            return Ok(Self::Name(name));
        }
        if let Some(range) = set(&r.semver) {
            VersionRange::parse(&range)?;
            return Ok(Self::Semver(range));
        }
        if let Some(tag) = set(&r.tag) {
            return Ok(Self::Tag(valid_short_name("tag", tag)?));
        }
        let branch = set(&r.branch).unwrap_or_else(|| "master".into());
        Ok(Self::Branch(valid_short_name("branch", branch)?))
    }

    /// How the target is named in messages, e.g. `branch "main"`.
    pub fn describe(&self) -> String {
        match self {
            Self::Commit { id, .. } => format!("commit {id}"),
            Self::Name(n) => format!("ref {n:?}"),
            Self::Semver(r) => format!("a tag matching semver {r:?}"),
            Self::Tag(t) => format!("tag {t:?}"),
            Self::Branch(b) => format!("branch {b:?}"),
        }
    }
}

/// Refuses names Git would refuse (`:`, `*`, `..`, …): they end up in refspecs, where a
/// `:` or `*` would change what is fetched.
fn valid_short_name(kind: &str, name: String) -> Result<String, SourceError> {
    match gix::validate::reference::name_partial(name.as_str().into()) {
        Ok(_) if !name.starts_with('-') => Ok(name),
        _ => Err(SourceError::InvalidSpec(format!(
            "{kind} {name:?} is not a valid Git ref name"
        ))),
    }
}

/// Picks the highest tag in `tags` (short names) whose version (an optional leading `v`
/// stripped) satisfies the constraint `range`, with Flux's (Masterminds) rules: `1.2.3` is
/// exact and pre-releases match only a comparator that has one.
pub fn pick_semver<'a>(
    range: &str,
    tags: impl IntoIterator<Item = &'a str>,
) -> Result<Option<&'a str>, SourceError> {
    let range = VersionRange::parse(range)?;
    Ok(range
        .pick(
            tags.into_iter()
                .filter_map(|tag| Some((parse_version(tag)?, tag))),
        )
        .map(|(_, tag)| tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(f: impl FnOnce(&mut GitRepositoryRef)) -> GitRepositoryRef {
        let mut r = GitRepositoryRef::default();
        f(&mut r);
        r
    }

    #[test]
    fn flux_precedence() {
        let sha = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";
        let all = r(|r| {
            r.branch = Some("main".into());
            r.tag = Some("v1".into());
            r.semver = Some(">=1".into());
            r.name = Some("refs/pull/1/head".into());
            r.commit = Some(sha.into());
        });
        assert!(matches!(
            GitTarget::from_ref(Some(&all)).unwrap(),
            GitTarget::Commit { branch: Some(b), .. } if b == "main"
        ));
        let mut no_commit = all.clone();
        no_commit.commit = None;
        assert_eq!(
            GitTarget::from_ref(Some(&no_commit)).unwrap(),
            GitTarget::Name("refs/pull/1/head".into())
        );
        no_commit.name = None;
        assert_eq!(
            GitTarget::from_ref(Some(&no_commit)).unwrap(),
            GitTarget::Semver(">=1".into())
        );
        no_commit.semver = None;
        assert_eq!(
            GitTarget::from_ref(Some(&no_commit)).unwrap(),
            GitTarget::Tag("v1".into())
        );
        assert_eq!(
            GitTarget::from_ref(None).unwrap(),
            GitTarget::Branch("master".into())
        );
        assert!(GitTarget::from_ref(Some(&r(|r| r.commit = Some("abc".into())))).is_err());
        for bad in ["main:refs/heads/x", "feature/*", "a..b", "-x"] {
            let spec = r(|r| r.branch = Some(bad.into()));
            assert!(GitTarget::from_ref(Some(&spec)).is_err(), "{bad}");
        }
        assert!(GitTarget::from_ref(Some(&r(|r| r.tag = Some("v1:x".into())))).is_err());
        assert!(GitTarget::from_ref(Some(&r(|r| r.name = Some("refs/x:y".into())))).is_err());
        assert_eq!(
            GitTarget::from_ref(Some(&r(|r| r.branch = Some("feature/x".into())))).unwrap(),
            GitTarget::Branch("feature/x".into())
        );
        assert!(GitTarget::from_ref(Some(&r(|r| r.semver = Some("not a range".into())))).is_err());
    }

    #[test]
    fn semver_picks_highest_match() {
        let tags = [
            "v1.0.0",
            "v1.2.0",
            "1.10.0",
            "v2.0.0",
            "latest",
            "v1.3.0-rc.1",
        ];
        assert_eq!(pick_semver("^1", tags).unwrap(), Some("1.10.0"));
        assert_eq!(pick_semver("<1.2", tags).unwrap(), Some("v1.0.0"));
        assert_eq!(pick_semver(">=3", tags).unwrap(), None);
        // Masterminds, not Cargo: a bare version is exact, pre-releases need asking for.
        assert_eq!(pick_semver("1.2.0", tags).unwrap(), Some("v1.2.0"));
        assert_eq!(pick_semver(">=1.2.1-0", tags).unwrap(), Some("v2.0.0"));
        assert_eq!(pick_semver("~1.3.0-0", tags).unwrap(), Some("v1.3.0-rc.1"));
        assert_eq!(pick_semver("1.0 - 1.2", tags).unwrap(), Some("v1.2.0"));
    }
}
