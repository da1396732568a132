//! What a cluster serves: the resource catalog, discovery documents and `/openapi/v3`.

pub mod builtin;
pub mod catalog;
pub mod documents;
pub mod openapi;

pub use catalog::{Catalog, Definitions, DefinitionsError, ResourceInfo};
