//! Health: whether applied objects have become what they were applied to be, judged by
//! kstatus' rules ([`compute`]) as Flux's `wait` and `healthChecks` judge them.
//!
//! [`HealthChecker::wait`] polls the objects (those of an inventory for `wait: true`, the
//! `healthChecks` otherwise, see [`HealthChecker::resolve`]) until every one is
//! [`Status::Current`], failing fast with `HealthCheckFailed` as soon as one is
//! [`Status::Failed`] and with the objects still pending when `timeout` is up. An object
//! that does not exist (yet) or is terminating is pending, not failed.

mod kstatus;
mod wait;

use std::fmt;

pub use kstatus::compute;
pub use wait::{HealthChecker, HealthOptions};

use crate::inventory::InventoryEntry;

/// kstatus' status of one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Still converging (rollout, scheduling, a controller's first pass…).
    InProgress,
    /// It will not get there without a change (deadline exceeded, Job failed, crash loop).
    Failed,
    /// Fully reconciled: what the spec asks for.
    Current,
    /// Being deleted.
    Terminating,
    /// Absent from the cluster.
    NotFound,
    /// Could not be judged (e.g. a Pod phase kstatus does not know).
    Unknown,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::InProgress => "InProgress",
            Status::Failed => "Failed",
            Status::Current => "Current",
            Status::Terminating => "Terminating",
            Status::NotFound => "NotFound",
            Status::Unknown => "Unknown",
        })
    }
}

/// A status and kstatus' message for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthStatus {
    /// The status.
    pub status: Status,
    /// Why, in kstatus' words (`Ready: 1/3`, `Job Failed. failed: 1/1`).
    pub message: String,
}

impl HealthStatus {
    /// A status with its message.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// The health of one object as last observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectHealth {
    /// The object.
    pub object: InventoryEntry,
    /// Its status.
    pub health: HealthStatus,
}

impl fmt::Display for ObjectHealth {
    /// Flux's wording: `Deployment.apps/default/web status: 'InProgress': Ready: 0/1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} status: '{}': {}",
            self.object, self.health.status, self.health.message
        )
    }
}

/// Why a health check failed. [`HealthError::reason`] is the condition reason the hub
/// reports, `HealthCheckFailed` as in Flux, for both a failed object and a timeout.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// An object reached Failed; the wait stopped at once.
    #[error("HealthCheckFailed: {0}")]
    Failed(Box<ObjectHealth>),
    /// `timeout` passed with objects not yet Current.
    #[error("HealthCheckFailed: timeout waiting {timeout:?} for: [{}]",
        .pending.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    TimedOut {
        /// The configured timeout.
        timeout: std::time::Duration,
        /// Every object not Current at the end, as last observed.
        pending: Vec<ObjectHealth>,
    },
    /// A health check names a kind the cluster does not serve.
    #[error("HealthCheckFailed: no resource serves kind {kind} in {api_version}")]
    NotServed {
        /// The kind.
        kind: String,
        /// Its apiVersion, or `*` when the check gave none.
        api_version: String,
    },
    /// API discovery failed.
    #[error("API discovery: {0}")]
    Discovery(#[source] Box<crate::ApplyError>),
}

impl HealthError {
    /// The condition reason of every health failure.
    pub const REASON: &'static str = "HealthCheckFailed";

    /// [`HealthError::REASON`].
    pub fn reason(&self) -> &'static str {
        Self::REASON
    }
}
