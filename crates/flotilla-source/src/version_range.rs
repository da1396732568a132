//! Version constraints as Flux and Helm write them (Masterminds `semver/v3` syntax), used to
//! pick a Helm chart version or an OCI tag.
//!
//! This is not Cargo's syntax, which the `semver` crate parses: a bare `1.2.3` is an exact
//! version here (not `^1.2.3`), comparators are separated by commas or spaces, `||` joins
//! alternatives, `1.2 - 1.4.5` is a hyphen range, a leading `v` is allowed, and `x`, `X` or `*`
//! (or a missing part) is a wildcard. The rules:
//!
//! | constraint | matches                 |
//! |------------|-------------------------|
//! | `1.2.3`, `=1.2.3` | exactly 1.2.3    |
//! | `1.2`, `1.2.x` | `>=1.2.0 <1.3.0`    |
//! | `>1.2`     | `>=1.3.0` (the wildcard is above the bound) |
//! | `<=1.2`    | `<1.3.0`                |
//! | `~1.2.3`   | `>=1.2.3 <1.3.0`        |
//! | `^1.2.3`   | `>=1.2.3 <2.0.0`; `^0.2.3` is `<0.3.0`, `^0.0.3` is `<0.0.4` |
//! | `*`, empty | anything                |
//!
//! Pre-releases: as in Masterminds, a comparator that has no pre-release part never matches a
//! pre-release version, so `*` and `>=1.0.0` skip `1.1.0-rc.1` while `>=1.0.0-0` takes it.

use std::cmp::Ordering;

use semver::{Prerelease, Version};

use crate::error::SourceError;

/// A parsed constraint: alternatives (`||`), each a conjunction of comparators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    alternatives: Vec<Vec<Comparator>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Tilde,
    Caret,
}

/// One comparator: an operator and a possibly partial version.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Prerelease,
}

impl VersionRange {
    /// Parses `text`; an empty constraint matches every release.
    pub fn parse(text: &str) -> Result<Self, SourceError> {
        let invalid = |why: &str| {
            SourceError::InvalidSpec(format!("version constraint {text:?} is invalid: {why}"))
        };
        let mut alternatives = Vec::new();
        for alternative in text.split("||") {
            // Operators may be followed by a space (`>= 1.2`): glue them to their version.
            let mut tokens: Vec<String> = Vec::new();
            for token in alternative
                .split([',', ' ', '\t'])
                .filter(|t| !t.is_empty())
            {
                match tokens.last_mut() {
                    Some(last) if last.chars().all(|c| "=!<>~^".contains(c)) => {
                        last.push_str(token)
                    }
                    _ => tokens.push(token.to_owned()),
                }
            }
            let mut comparators = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                if tokens.get(i + 1).map(String::as_str) == Some("-") {
                    let upper = tokens
                        .get(i + 2)
                        .ok_or_else(|| invalid("hyphen range without an upper bound"))?;
                    comparators.push(
                        Comparator::parse(&format!(">={}", tokens[i])).map_err(|e| invalid(&e))?,
                    );
                    comparators
                        .push(Comparator::parse(&format!("<={upper}")).map_err(|e| invalid(&e))?);
                    i += 3;
                } else {
                    comparators.push(Comparator::parse(&tokens[i]).map_err(|e| invalid(&e))?);
                    i += 1;
                }
            }
            if comparators.is_empty() {
                if text.trim().is_empty() {
                    comparators.push(Comparator::parse("*").map_err(|e| invalid(&e))?);
                } else {
                    return Err(invalid("an alternative of '||' is empty"));
                }
            }
            alternatives.push(comparators);
        }
        Ok(Self { alternatives })
    }

    /// Whether `version` satisfies the constraint.
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|c| c.matches(version)))
    }

    /// The highest of `candidates` (a version and what it came from, e.g. a tag) that
    /// satisfies the constraint. Build metadata does not order versions; of equal ones the
    /// first wins.
    pub fn pick<'a, T>(
        &self,
        candidates: impl IntoIterator<Item = (Version, &'a T)>,
    ) -> Option<(Version, &'a T)>
    where
        T: ?Sized,
    {
        let mut best: Option<(Version, &'a T)> = None;
        for (version, item) in candidates {
            if !self.matches(&version) {
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|(b, _)| version.cmp_precedence(b) == Ordering::Greater)
            {
                best = Some((version, item));
            }
        }
        best
    }

    /// Whether the constraint names one exact version (`1.2.3`, `=v1.2.3`), which callers may
    /// look up directly instead of listing every version.
    pub fn exact(&self) -> Option<Version> {
        match self.alternatives.as_slice() {
            [only] => match only.as_slice() {
                [c] if c.op == Op::Eq => Some(Version {
                    major: c.major?,
                    minor: c.minor?,
                    patch: c.patch?,
                    pre: c.pre.clone(),
                    build: semver::BuildMetadata::EMPTY,
                }),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Parses a version leniently, as Helm does for chart versions and Flux for tags: a leading
/// `v` is allowed.
pub fn parse_version(text: &str) -> Option<Version> {
    Version::parse(text.strip_prefix('v').unwrap_or(text)).ok()
}

impl Comparator {
    fn parse(token: &str) -> Result<Self, String> {
        let split = token
            .find(|c: char| !"=!<>~^".contains(c))
            .unwrap_or(token.len());
        let (op, rest) = token.split_at(split);
        let op = match op {
            "" | "=" | "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            ">=" | "=>" => Op::Ge,
            "<" => Op::Lt,
            "<=" | "=<" => Op::Le,
            "~" | "~>" => Op::Tilde,
            "^" => Op::Caret,
            other => return Err(format!("unknown operator {other:?}")),
        };
        let rest = rest.strip_prefix('v').unwrap_or(rest);
        // Build metadata never takes part in matching.
        let rest = rest.split_once('+').map_or(rest, |(v, _)| v);
        let (numbers, pre) = match rest.split_once('-') {
            Some((n, p)) => (
                n,
                Prerelease::new(p).map_err(|e| format!("pre-release {p:?}: {e}"))?,
            ),
            None => (rest, Prerelease::EMPTY),
        };
        let mut parts = [None; 3];
        let pieces: Vec<&str> = numbers.split('.').collect();
        if pieces.len() > 3 || numbers.is_empty() {
            return Err(format!("{token:?} is not a version"));
        }
        for (slot, piece) in parts.iter_mut().zip(&pieces) {
            *slot = match *piece {
                "x" | "X" | "*" => None,
                n => Some(
                    n.parse::<u64>()
                        .map_err(|_| format!("{token:?} is not a version"))?,
                ),
            };
        }
        // A wildcard swallows everything after it (`1.x.3` is `1.x`).
        if let Some(first_wild) = parts.iter().position(Option::is_none) {
            parts[first_wild..].iter_mut().for_each(|p| *p = None);
        }
        Ok(Self {
            op,
            major: parts[0],
            minor: parts[1],
            patch: parts[2],
            pre,
        })
    }

    fn version(major: u64, minor: u64, patch: u64, pre: Prerelease) -> Version {
        Version {
            major,
            minor,
            patch,
            pre,
            build: semver::BuildMetadata::EMPTY,
        }
    }

    /// The lowest version the comparator's (partial) version stands for.
    fn lower(&self) -> Version {
        Self::version(
            self.major.unwrap_or(0),
            self.minor.unwrap_or(0),
            self.patch.unwrap_or(0),
            self.pre.clone(),
        )
    }

    /// The first version above everything the (partial) version stands for, as `X.Y.Z-0`
    /// so that pre-releases of it are above too; `None` for `*` (no bound).
    fn wildcard_upper(&self) -> Option<Version> {
        let (major, minor, patch) = match (self.major, self.minor, self.patch) {
            (None, _, _) => return None,
            (Some(major), None, _) => (major + 1, 0, 0),
            (Some(major), Some(minor), None) => (major, minor + 1, 0),
            (Some(major), Some(minor), Some(patch)) => (major, minor, patch + 1),
        };
        Some(pre_zero(Self::version(
            major,
            minor,
            patch,
            Prerelease::EMPTY,
        )))
    }

    fn matches(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && self.pre.is_empty() {
            return false;
        }
        let lower = self.lower();
        let full = self.patch.is_some();
        let ge_lower = v.cmp_precedence(&lower) != Ordering::Less;
        let below =
            |upper: Option<Version>| upper.is_none_or(|u| v.cmp_precedence(&u) == Ordering::Less);
        let in_wildcard = || {
            if full {
                v.cmp_precedence(&lower) == Ordering::Equal
            } else {
                ge_lower && below(self.wildcard_upper())
            }
        };
        match self.op {
            Op::Eq => in_wildcard(),
            Op::Ne => !in_wildcard(),
            Op::Gt if full => v.cmp_precedence(&lower) == Ordering::Greater,
            Op::Gt => !below(self.wildcard_upper()) && self.major.is_some(),
            Op::Ge => ge_lower,
            Op::Lt => v.cmp_precedence(&lower) == Ordering::Less,
            Op::Le if full => v.cmp_precedence(&lower) != Ordering::Greater,
            Op::Le => below(self.wildcard_upper()),
            Op::Tilde => {
                let upper = match (self.major, self.minor) {
                    (Some(major), None) => Self::version(major + 1, 0, 0, Prerelease::EMPTY),
                    (Some(major), Some(minor)) => {
                        Self::version(major, minor + 1, 0, Prerelease::EMPTY)
                    }
                    (None, _) => return true,
                };
                ge_lower && below(Some(pre_zero(upper)))
            }
            Op::Caret => {
                let upper = match (self.major, self.minor, self.patch) {
                    (None, _, _) => return true,
                    (Some(0), None, _) => Self::version(1, 0, 0, Prerelease::EMPTY),
                    (Some(0), Some(0), None) => Self::version(0, 1, 0, Prerelease::EMPTY),
                    (Some(0), Some(0), Some(patch)) => {
                        Self::version(0, 0, patch + 1, Prerelease::EMPTY)
                    }
                    (Some(0), Some(minor), _) => Self::version(0, minor + 1, 0, Prerelease::EMPTY),
                    (Some(major), _, _) => Self::version(major + 1, 0, 0, Prerelease::EMPTY),
                };
                ge_lower && below(Some(pre_zero(upper)))
            }
        }
    }
}

/// `X.Y.Z-0`: the lowest version of a release, below all its pre-releases.
fn pre_zero(mut v: Version) -> Version {
    v.pre = Prerelease::new("0").unwrap_or(Prerelease::EMPTY);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(range: &str, version: &str) -> bool {
        VersionRange::parse(range)
            .unwrap()
            .matches(&Version::parse(version).unwrap())
    }

    #[test]
    fn masterminds_rules() {
        let cases: &[(&str, &str, bool)] = &[
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("v1.2.3", "1.2.3", true),
            ("=1.2", "1.2.9", true),
            ("1.2.x", "1.3.0", false),
            (">1.2", "1.2.9", false),
            (">1.2", "1.3.0", true),
            (">1.2.3", "1.2.4", true),
            (">=1.2", "1.2.0", true),
            ("<1.2", "1.1.9", true),
            ("<1.2", "1.2.0", false),
            ("<=1.2", "1.2.9", true),
            ("<=1.2.3", "1.2.4", false),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("~1", "1.9.0", true),
            ("^1.2.3", "1.9.0", true),
            ("^1.2.3", "2.0.0", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.4", false),
            ("^0", "0.9.9", true),
            (">= 1.2, < 1.4", "1.3.5", true),
            (">=1.2 <1.4", "1.4.0", false),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("<1.0 || >=2.1", "2.1.0", true),
            ("<1.0 || >=2.1", "1.5.0", false),
            ("!=1.2.3", "1.2.4", true),
            ("*", "9.9.9", true),
            ("", "0.0.1", true),
            ("*", "1.0.0-rc.1", false),
            (">=1.0.0", "1.1.0-rc.1", false),
            (">=1.0.0-0", "1.1.0-rc.1", true),
            ("^2.0.0-0", "3.0.0-rc.1", false),
            ("1.2.3-beta.1", "1.2.3-beta.1", true),
        ];
        for (range, version, expected) in cases {
            assert_eq!(m(range, version), *expected, "{range} vs {version}");
        }
    }

    #[test]
    fn picks_the_highest_match_and_knows_exact_versions() {
        let tags = ["1.0.0", "1.2.0", "v1.10.0", "2.0.0", "latest", "1.3.0-rc.1"];
        let range = VersionRange::parse("1.x").unwrap();
        let picked = range.pick(tags.iter().filter_map(|t| Some((parse_version(t)?, *t))));
        assert_eq!(picked.map(|(_, t)| t), Some("v1.10.0"));
        assert_eq!(
            VersionRange::parse("=v1.2.3").unwrap().exact(),
            Some(Version::new(1, 2, 3))
        );
        assert_eq!(VersionRange::parse("1.2").unwrap().exact(), None);
        assert_eq!(VersionRange::parse("^1.2.3").unwrap().exact(), None);
        for bad in ["not a version", ">>1", "1.2.3.4", "1 -", "1 ||"] {
            assert!(VersionRange::parse(bad).is_err(), "{bad}");
        }
    }
}
