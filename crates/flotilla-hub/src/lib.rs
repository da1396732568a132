//! The Flotilla hub: the controller process of a fleet (see DESIGN.md §1).
//!
//! The binary (`src/main.rs`) wires these modules together; they are a library so that
//! integration tests can drive each part (the source reconcilers against a kubesim
//! management cluster, say) without starting the whole process.

pub mod config;
pub mod database;
pub mod deployers;
pub mod http;
pub mod management;
pub mod metrics;
pub mod run;
pub mod shutdown;
pub mod sources;
pub mod telemetry;
