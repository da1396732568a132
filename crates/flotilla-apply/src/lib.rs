//! Flotilla's apply engine: puts a rendered [`ObjectSet`](flotilla_render::ObjectSet) on
//! one cluster for one deployer (DESIGN.md §5, steps 2 and 3).
//!
//! ```text
//! Applier::new(client, owner).apply(&objects)
//!   owner labels on every object          flotilla.dev/name|namespace|kind
//!   dry-run of the whole set              a refused object fails the run, nothing written
//!   stages                                CRDs, Namespaces, ClusterRoles → *Class → rest
//!     wait for CRDs Established, rediscover, validate their custom resources
//!   server-side apply per stage           field manager `flotilla`, bounded parallelism
//!   -> ApplyReport                         created / configured / unchanged per object
//! ```
//!
//! Server-side apply means Flotilla owns only the fields its manifests set: a field another
//! manager set and the set does not mention stays. Prune, health and diff build on this.

mod applier;
mod crd;
mod error;
mod owner;
mod report;
mod stage;
mod target;

pub use applier::{Applier, ApplyOptions};
pub use error::{ApplyError, Failures, ObjectFailure};
pub use owner::Owner;
pub use report::{Action, AppliedObject, ApplyReport};
pub use stage::Stage;
