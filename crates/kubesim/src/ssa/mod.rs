//! Server-side apply: field ownership, merging and `managedFields`, as a pure library.
//!
//! The model is Kubernetes' own merge library, structured-merge-diff (SMD), which the API
//! server runs for every write:
//! - [`schema`] describes types (scalars, atomic/set/map lists, atomic/granular maps),
//!   loaded by [`openapi`] from the built-in definitions or a CRD's `openAPIV3Schema`;
//! - [`path`] and [`set`] name fields and sets of fields; [`fieldsv1`] is their wire format;
//! - [`typed`] and [`merge`] walk objects under a schema (field sets, removal, merge,
//!   comparison);
//! - [`updater`] keeps per-manager ownership through applies and updates, detecting
//!   conflicts;
//! - [`zero`] gives the zero-value objects a create is compared against;
//! - [`manager`] is the API server layer: `metadata.managedFields` encoding, manager
//!   identity, timestamps and the 409 conflict Status. The HTTP server calls
//!   [`manager::FieldManager`].
//!
//! [`Schema::to_smd_document`] exports types in SMD's own format so that the Go library can
//! serve as a differential-testing oracle (`crates/kubesim/oracle`).

pub mod fieldsv1;
pub mod last_applied;
pub mod managed_fields;
pub mod manager;
pub mod merge;
pub mod openapi;
pub mod path;
pub mod schema;
pub mod set;
mod smd_schema;
pub mod typed;
pub mod updater;
pub mod value;
pub mod zero;

use path::PathElement;

pub use manager::{FieldManager, Operation, Writer, Written};
pub use path::Path;
pub use schema::{Schema, TypeRef};
pub use set::FieldSet;
pub use updater::{Conflict, Conflicts, ManagedFields, Updater, VersionedSet};

/// Why an apply or update could not be done.
#[derive(Debug, thiserror::Error)]
pub enum SsaError {
    /// The apply would change fields other managers own; retry with force or drop them.
    #[error("{}", manager::conflict_message(.0))]
    Conflicts(Conflicts),
    /// An object does not fit its schema (wrong shape, missing list key, duplicates).
    #[error("{path}: {message}")]
    Invalid {
        /// Where, rendered like `.spec.containers`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// `metadata.managedFields` could not be decoded.
    #[error("failed to decode managed fields: {0}")]
    ManagedFields(String),
}

impl SsaError {
    pub(crate) fn invalid(path: &[PathElement], message: String) -> Self {
        SsaError::Invalid {
            path: Path(path.to_vec()).to_string(),
            message,
        }
    }
}
