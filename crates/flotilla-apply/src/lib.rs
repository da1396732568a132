//! Flotilla's apply engine: puts a rendered [`ObjectSet`](flotilla_render::ObjectSet) on
//! one cluster for one deployer and looks after it there (DESIGN.md §5, steps 2–5).
//!
//! ```text
//! ApiDiscovery::new(client)               what the cluster serves, cached; one per cluster,
//!                                         shared through `with_discovery`
//! Applier::new(client, owner).apply(&objects)
//!   owner labels on every object          flotilla.dev/name|namespace|kind
//!   plan: annotations, live objects, dry-run of the whole set
//!                                         a refused object fails the run, nothing written
//!   stages                                CRDs, Namespaces, ClusterRoles → *Class → rest
//!     wait for CRDs Established, rediscover, plan their custom resources
//!     (objects untouched since this applier applied the same manifest: no dry-run)
//!   write per stage                       server-side apply as `flotilla`, bounded
//!                                         parallelism; no request for unchanged objects;
//!                                         recreation on immutable changes with force
//!   -> ApplyReport                        action per object, and the inventory
//! Pruner::prune(previous, current)        delete what left the inventory (ours only)
//! Pruner::delete_all(inventory, policy)   the deployer's deletionPolicy
//! health::wait(…)                         kstatus of applied objects / healthChecks
//! Differ::diff(&objects)                  dry-run vs live, field paths, Secrets redacted
//! ```
//!
//! Server-side apply means Flotilla owns only the fields its manifests set: a field another
//! manager set and the set does not mention stays.

mod annotations;
mod applier;
mod concurrent;
mod crd;
pub mod diff;
mod discovery;
mod error;
mod force;
pub mod health;
mod inventory;
mod live;
mod memory;
mod owner;
mod plan;
mod prune;
mod report;
mod stage;
mod target;

pub use annotations::{Policy, PolicyError, SsaMode};
pub use applier::{Applier, ApplyOptions};
pub use discovery::ApiDiscovery;
pub use error::{ApplyError, Failures, ObjectFailure};
pub use inventory::{Inventory, InventoryEntry};
pub use memory::{ForeignMemory, MemorySnapshot};
pub use owner::Owner;
pub use prune::{KeepReason, PruneError, PruneOptions, PruneReport, Pruner};
pub use report::{Action, AppliedObject, ApplyReport};
pub use stage::Stage;
