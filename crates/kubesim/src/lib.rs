//! kubesim: an emulated Kubernetes API server (see `/work/shared/kubesim.md` for the contract).
//!
//! - [`Fleet::start`] serves many isolated clusters from one process, each on its own
//!   HTTPS port with its own CA, kubeconfig, store and resourceVersion counter; the
//!   `kubesim serve` binary does the same from the command line.
//! - [`api`] is the API server itself: discovery, `/openapi/v3`, the REST verbs, watch,
//!   patches and server-side apply, with `Status` errors as the real server words them.
//! - [`ssa`] is the server-side apply merge library every write goes through.

pub mod ssa;

// The HTTP server layer: many HTTPS clusters in one process (see [`Fleet`]).
pub mod admin;
pub mod allocations;
pub mod api;
pub mod cluster;
pub mod controllers;
pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod faults;
pub mod fleet;
pub mod gc;
pub mod immutable;
pub mod jsonpath;
pub mod kubeconfig;
pub mod label_index;
pub mod namespaces;
pub mod pki;
pub mod protobuf;
pub mod request_log;
pub mod schema_validation;
pub mod selectors;
pub mod server;
pub mod snapshot;
pub mod status;
pub mod store;
pub mod strategic;
pub mod structural;
pub mod validation;

pub use cluster::ClusterConfig;
pub use controllers::{Behavior, WorkloadConfig};
pub use faults::{Fault, FaultAction};
pub use fleet::{ClusterHandle, Fleet, FleetConfig, FleetError, FleetHandle};
pub use kubeconfig::KubeconfigUser;
pub use request_log::RequestRecord;
