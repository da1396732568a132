//! Flotilla's sources: content fetched once by the hub and shared by every cluster.
//!
//! A source ([`SourceSpec`]) is fetched by [`Sources::fetch`] into the [`ArtifactStore`],
//! a content-addressed directory of read-only trees that renderers read. Concurrent
//! fetches of the same source (same URL, ref and credentials) share one network fetch,
//! so 1,000 clusters deploying from one repository cause one clone.
//!
//! Kinds: Git ([`git`]), S3-compatible buckets ([`bucket`]), Helm repository indexes and
//! charts over HTTP or OCI ([`helm`]) and OCI artifacts ([`oci`]), each a [`SourceSpec`]
//! variant writing through the same [`ArtifactWriter`]. Failures are [`SourceError`]s whose
//! [`SourceError::reason`] is the Flux reason for the source's `Ready` condition.

mod archive;
pub mod bucket;
pub mod credentials;
pub mod error;
pub mod git;
pub mod helm;
pub mod ignore;
mod inflight;
pub mod oci;
pub mod sources;
pub mod store;
pub mod tree_digest;
pub mod version_range;
pub mod writer;

pub use credentials::Credentials;
pub use error::{Operation, SourceError};
pub use sources::{SourceSpec, Sources};
pub use store::{Artifact, ArtifactStore, GcReport, Limits};
pub use writer::ArtifactWriter;
