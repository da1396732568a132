//! Flotilla's sources: content fetched once by the hub and shared by every cluster.
//!
//! A source ([`SourceSpec`]) is fetched by [`Sources::fetch`] into the [`ArtifactStore`],
//! a content-addressed directory of read-only trees that renderers read. Concurrent
//! fetches of the same source (same URL, ref and credentials) share one network fetch,
//! so 1,000 clusters deploying from one repository cause one clone.
//!
//! Git ([`git`]) and S3-compatible buckets ([`bucket`]) are implemented; Helm repositories
//! and OCI artifacts slot in as further [`SourceSpec`] variants writing through the same
//! [`ArtifactWriter`].

pub mod bucket;
pub mod error;
pub mod git;
pub mod ignore;
mod inflight;
pub mod sources;
pub mod store;
pub mod tree_digest;
pub mod writer;

pub use error::SourceError;
pub use sources::{SourceSpec, Sources};
pub use store::{Artifact, ArtifactStore, GcReport, Limits};
pub use writer::ArtifactWriter;
