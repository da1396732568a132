//! Rendering of Flotilla deployers: what a Kustomization puts on one cluster.
//!
//! The fleet shapes the API. kustomize runs once per (artifact revision, deployer spec);
//! its output is then substituted for each targeted cluster:
//!
//! ```text
//! Kustomize::build(artifact, spec)            once      -> BuiltManifests
//! PostBuildVariables::new(substitute, from)   once      -> PostBuildVariables
//!   .for_cluster(&ClusterInfo)                per cluster -> Variables
//! BuiltManifests::for_cluster(&vars, mode)    per cluster -> ObjectSet
//! ```
//!
//! The build follows Flux's kustomize-controller: a `kustomization.yaml` is generated
//! where the path has none, and the deployer's `targetNamespace`, `namePrefix`,
//! `nameSuffix`, `patches`, `images` and `components` become an overlay around the path;
//! `commonMetadata` is set on every object. Substitution follows Flux's `${var}` syntax
//! and precedence, with the per-cluster variables of a Cluster API `Cluster` underneath
//! (see [`variables`]). The artifact is never written to, and nothing here talks to a
//! cluster: the caller passes in the data of `substituteFrom` objects.

mod built;
mod error;
mod generate;
mod kustomize;
mod objects;
mod overlay;
mod template;
mod variable_sources;
pub mod variables;
mod workspace;
mod yaml_tree;

pub use built::{BuiltManifests, SUBSTITUTE_DISABLED, Strictness};
pub use error::{BuildError, ManifestError, SubstituteError};
pub use generate::GenerateError;
pub use kustomize::Kustomize;
pub use objects::{Object, ObjectError, ObjectId, ObjectSet};
pub use template::{TemplateError, Undefined};
pub use variable_sources::NotText;
pub use variables::{ClusterInfo, PostBuildVariables, VariableSource, Variables, VariablesError};
pub use workspace::PathEscapes;
pub use yaml_tree::YamlError;
