//! Why an apply failed, naming each object concerned (`Kind.group/namespace/name`, as
//! [`ObjectId`] prints it) with the API server's reason.

use std::fmt;
use std::time::Duration;

use flotilla_render::ObjectId;

/// One object the API server refused, or could not be resolved to a served resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectFailure {
    /// The object.
    pub id: ObjectId,
    /// Why: the API server's message, or the client error.
    pub reason: String,
}

impl ObjectFailure {
    /// A failure with the reason a kube client error gives: the server's `Status` message
    /// where there is one.
    pub(crate) fn from_kube(id: &ObjectId, error: &kube::Error) -> Self {
        let reason = match error {
            kube::Error::Api(status) => status.message.clone(),
            other => other.to_string(),
        };
        Self {
            id: id.clone(),
            reason,
        }
    }
}

impl fmt::Display for ObjectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.id, self.reason)
    }
}

/// Every failure of one step, one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failures(pub Vec<ObjectFailure>);

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for failure in &self.0 {
            write!(f, "\n  {failure}")?;
        }
        Ok(())
    }
}

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The server-side dry-run refused objects. Nothing was written, unless the refused
    /// objects could only be validated once the definitions stage was applied (custom
    /// resources of the set's CRDs, objects in the set's new Namespaces): then that stage,
    /// itself validated, was.
    #[error("validation failed for {} object(s):{failures}", .failures.0.len())]
    Invalid {
        /// Each refused object and why.
        failures: Failures,
    },
    /// The dry-run passed, yet the server refused writes in a stage; earlier stages are
    /// applied and later ones are not.
    #[error("apply failed for {} object(s):{failures}", .failures.0.len())]
    Apply {
        /// Each refused object and why.
        failures: Failures,
    },
    /// A CRD of the set did not become Established in time.
    #[error("CustomResourceDefinition {name} not Established within {timeout:?}")]
    NotEstablished {
        /// Name of the CRD.
        name: String,
        /// The configured wait.
        timeout: Duration,
    },
    /// API discovery, or a read the apply needed, failed.
    #[error("{what}: {source}")]
    Cluster {
        /// What was being done.
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}
