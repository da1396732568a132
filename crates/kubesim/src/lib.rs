//! kubesim: an emulated Kubernetes API server (see `/work/shared/kubesim.md` for the contract).
//!
//! This crate currently provides [`ssa`], the server-side apply merge library the HTTP layer
//! will call for every write.

pub mod ssa;

// The HTTP server layer: many HTTPS clusters in one process (see [`Fleet`]).
pub mod api;
pub mod cluster;
pub mod crd;
pub mod discovery;
pub mod faults;
pub mod fleet;
pub mod kubeconfig;
pub mod namespaces;
pub mod pki;
pub mod protobuf;
pub mod request_log;
pub mod selectors;
pub mod server;
pub mod status;
pub mod store;
pub mod structural;
pub mod validation;

pub use cluster::ClusterConfig;
pub use faults::{Fault, FaultAction};
pub use fleet::{ClusterHandle, Fleet, FleetConfig, FleetError, FleetHandle};
pub use kubeconfig::KubeconfigUser;
pub use request_log::RequestRecord;
