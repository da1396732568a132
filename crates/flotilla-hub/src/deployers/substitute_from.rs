//! `postBuild.substituteFrom`: the ConfigMaps and Secrets, in the deployer's namespace on
//! the management cluster, whose keys become `${var}` variables, read as Flux's
//! kustomize-controller reads them:
//!
//! - in the listed order (later entries win; `postBuild.substitute` wins over all, which
//!   [`PostBuildVariables`] applies);
//! - a missing object with `optional: true` is skipped; any other missing object fails the
//!   deployer with a message naming it;
//! - Secret values never appear in a message: errors name the Secret and key only.

use flotilla_api::common::ValuesKind;
use flotilla_api::kustomization::PostBuild;
use flotilla_render::{NotText, PostBuildVariables, VariableSource, VariablesError};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

/// Why the variables of a `postBuild` could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum SubstituteFromError {
    /// A non-optional object does not exist.
    #[error(
        "postBuild.substituteFrom: {kind} '{namespace}/{name}' not found (set optional: true to tolerate it)"
    )]
    NotFound {
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// Reading an object failed.
    #[error("postBuild.substituteFrom: cannot read {kind} '{namespace}/{name}': {message}")]
    Read {
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API error.
        message: String,
    },
    /// A Secret value is not text.
    #[error("postBuild.substituteFrom: {0}")]
    NotText(#[from] NotText),
    /// A key is not a valid variable name, or `substitute` is invalid.
    #[error(transparent)]
    Variables(#[from] VariablesError),
}

/// The variable sources `post_build.substituteFrom` names, read from `namespace`.
pub async fn variable_sources(
    client: &kube::Client,
    namespace: &str,
    post_build: &PostBuild,
) -> Result<Vec<VariableSource>, SubstituteFromError> {
    let mut sources = Vec::with_capacity(post_build.substitute_from.len());
    for reference in &post_build.substitute_from {
        let name = reference.name.as_str();
        let kind = match reference.kind {
            ValuesKind::ConfigMap => "ConfigMap",
            ValuesKind::Secret => "Secret",
        };
        let read_error = |e: kube::Error| SubstituteFromError::Read {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            message: e.to_string(),
        };
        let source = match reference.kind {
            ValuesKind::ConfigMap => Api::<ConfigMap>::namespaced(client.clone(), namespace)
                .get_opt(name)
                .await
                .map_err(read_error)?
                .map(|config_map| Ok(VariableSource::from_config_map(&config_map))),
            ValuesKind::Secret => Api::<Secret>::namespaced(client.clone(), namespace)
                .get_opt(name)
                .await
                .map_err(read_error)?
                .map(|secret| VariableSource::from_secret(&secret)),
        };
        match source {
            Some(source) => sources.push(source?),
            None if reference.optional => {
                tracing::debug!(
                    kind,
                    namespace,
                    name,
                    "optional substituteFrom object is missing"
                );
            }
            None => {
                return Err(SubstituteFromError::NotFound {
                    kind,
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                });
            }
        }
    }
    Ok(sources)
}

/// `post_build`'s variables, validated and ready to combine per cluster: its
/// `substituteFrom` objects read from `namespace`, then its `substitute`.
pub async fn post_build_variables(
    client: &kube::Client,
    namespace: &str,
    post_build: &PostBuild,
) -> Result<PostBuildVariables, SubstituteFromError> {
    let sources = variable_sources(client, namespace, post_build).await?;
    Ok(PostBuildVariables::new(&post_build.substitute, &sources)?)
}
