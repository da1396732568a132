//! Errors of a build and of a per-cluster substitution. Each names the deployer path or
//! the object, and the reason; none carries a variable's value.

use std::time::Duration;

use crate::generate::GenerateError;
use crate::objects::{ObjectError, ObjectId};
use crate::template::{TemplateError, Undefined};
use crate::workspace::PathEscapes;
use crate::yaml_tree::YamlError;

/// Why `kustomize build` of a deployer failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `path` or a component points outside the artifact.
    #[error(transparent)]
    PathEscapes(#[from] PathEscapes),
    /// `path` is not a directory of the artifact.
    #[error("path {path:?} is not a directory in the artifact")]
    PathNotFound {
        /// As the deployer wrote it.
        path: String,
    },
    /// Generating the missing `kustomization.yaml` failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// kustomize refused the tree; `message` is its stderr.
    #[error("kustomize build of path {path:?} failed: {message}")]
    Kustomize {
        /// The deployer's path.
        path: String,
        /// What kustomize said, with temporary paths made relative to the artifact.
        message: String,
    },
    /// kustomize did not finish in time.
    #[error("kustomize build of path {path:?} timed out after {after:?}")]
    Timeout {
        /// The deployer's path.
        path: String,
        /// The timeout.
        after: Duration,
    },
    /// kustomize's output is not a usable set of objects.
    #[error("kustomize build of path {path:?}: {source}")]
    Manifests {
        /// The deployer's path.
        path: String,
        /// What is wrong (boxed: errors stay small on the happy path).
        source: Box<ManifestError>,
    },
    /// A local file operation or running kubectl failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        source: std::io::Error,
    },
}

/// Why built manifests are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The output is not YAML.
    #[error("invalid YAML: {0}")]
    Yaml(#[from] YamlError),
    /// An object without identity, or a duplicate.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A malformed `${…}` in an object.
    #[error("{object}: {source}")]
    Template {
        /// The object (boxed: errors stay small on the happy path).
        object: Box<ObjectId>,
        /// What is wrong.
        source: TemplateError,
    },
}

/// Why one cluster's substitution failed.
#[derive(Debug, thiserror::Error)]
pub enum SubstituteError {
    /// Strict mode: a variable without value or default.
    #[error("{object}: {source}")]
    Undefined {
        /// The object using it.
        object: ObjectId,
        /// The variable.
        source: Undefined,
    },
    /// After substitution an object lacks its identity.
    #[error("after substitution: {0}")]
    Object(#[from] ObjectError),
    /// Two keys of one mapping are the same after substitution.
    #[error("{object}: key {key:?} collides with another key after substitution")]
    DuplicateKey {
        /// The object.
        object: Box<ObjectId>,
        /// The key as written (its substituted form may hold a Secret's value).
        key: String,
    },
    /// Two objects have the same identity after substitution. Both are named as the
    /// manifests write them, since the substituted identity may hold a Secret's value.
    #[error("{first} and {second} are the same object after substitution")]
    Duplicate {
        /// The first object, before substitution.
        first: Box<ObjectId>,
        /// The second object, before substitution.
        second: Box<ObjectId>,
    },
}
