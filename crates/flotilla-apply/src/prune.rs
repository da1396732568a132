//! Prune and deletion: removing what one deployer applied, and nothing else.
//!
//! [`Pruner::prune`] deletes the objects of the previous inventory that the current one
//! lacks ([`Inventory::removed_in`]); [`Pruner::delete_all`] deletes a whole inventory as
//! the deployer's `deletionPolicy` says, when the deployer is deleted or a cluster leaves
//! its selector. Both read each object before deleting it and keep it when
//!
//! - it is gone already, or its kind is no longer served (its CRD went first);
//! - it does not carry *this* deployer's three owner labels: someone else's object with
//!   the same name, or one whose ownership moved to another deployer, is never deleted;
//! - it is annotated `flotilla.dev/prune: disabled` or `flotilla.dev/reconcile: disabled`
//!   (on the live object, where an operator can set it).
//!
//! Deletion uses background propagation (dependents are collected by the cluster, as
//! Flux does) and a uid precondition, so an object recreated since it was read is not
//! deleted in its place. Objects go in reverse stage order: workloads before `*Class`
//! kinds before Namespaces and CRDs.

use std::time::Duration;

use flotilla_api::kustomization::DeletionPolicy;
use kube::Client;
use kube::api::{DeleteParams, DynamicObject, Preconditions};

use crate::annotations::Policy;
use crate::concurrent::in_order;
use crate::discovery::ApiDiscovery;
use crate::error::{Failures, ObjectFailure};
use crate::inventory::{Inventory, InventoryEntry};
use crate::owner::Owner;
use crate::stage::Stage;
use crate::target::Target;

/// How often an object being deleted is read again when waiting for it to be gone.
const POLL: Duration = Duration::from_millis(100);

/// How a [`Pruner`] deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneOptions {
    /// Requests in flight at once (at least one).
    pub concurrency: usize,
    /// How long `WaitForTermination` waits for the deleted objects to be gone.
    pub timeout: Duration,
}

impl Default for PruneOptions {
    /// Eight requests at a time, a minute for termination.
    fn default() -> Self {
        Self {
            concurrency: 8,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Why an object that left the inventory was not deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// It no longer exists (or its kind is no longer served).
    Gone,
    /// It lacks this deployer's owner labels.
    NotOwned,
    /// `flotilla.dev/prune: disabled` or `flotilla.dev/reconcile: disabled`.
    Disabled,
    /// The deletion policy keeps applied objects (`Orphan`, or `MirrorPrune` without prune).
    Orphaned,
}

/// What a prune or deletion did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Objects deleted (and, with `WaitForTermination`, gone), in deletion order.
    pub deleted: Vec<InventoryEntry>,
    /// Objects kept, and why.
    pub kept: Vec<(InventoryEntry, KeepReason)>,
}

/// Why a prune or deletion failed.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// The server refused to delete objects; the others were deleted.
    #[error("delete failed for {} object(s):{failures}", .failures.0.len())]
    Delete {
        /// Each object and why.
        failures: Failures,
    },
    /// `WaitForTermination`: objects were still there when the time was up.
    #[error("{} object(s) not terminated within {timeout:?}: {}", .remaining.len(),
        .remaining.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    NotTerminated {
        /// The objects still present.
        remaining: Vec<InventoryEntry>,
        /// The configured wait.
        timeout: Duration,
    },
    /// API discovery failed.
    #[error("API discovery: {0}")]
    Discovery(#[source] Box<crate::ApplyError>),
}

/// Deletes one deployer's objects from one cluster.
#[derive(Clone)]
pub struct Pruner {
    owner: Owner,
    options: PruneOptions,
    discovery: ApiDiscovery,
}

impl std::fmt::Debug for Pruner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pruner")
            .field("owner", &self.owner)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What happened to one object.
enum Outcome {
    Deleted(Option<String>),
    Kept(KeepReason),
}

impl Pruner {
    /// A pruner deleting through `client` for the deployer `owner`.
    pub fn new(client: Client, owner: Owner) -> Self {
        Self {
            owner,
            options: PruneOptions::default(),
            discovery: ApiDiscovery::new(client),
        }
    }

    /// The same pruner, resolving kinds through `discovery` (of the same cluster), shared
    /// with the cluster's appliers and health checkers.
    pub fn with_discovery(mut self, discovery: ApiDiscovery) -> Self {
        self.discovery = discovery;
        self
    }

    /// The same pruner with `options`.
    pub fn with_options(mut self, options: PruneOptions) -> Self {
        self.options = options;
        self
    }

    /// Deletes the objects of `previous` that `current` lacks; see the module docs.
    pub async fn prune(
        &self,
        previous: &Inventory,
        current: &Inventory,
    ) -> Result<PruneReport, PruneError> {
        self.delete(previous.removed_in(current), false).await
    }

    /// Deletes (or keeps) every object of `inventory` as `policy` says, for a deployer
    /// that is being deleted or a cluster that left its selector. `prune` is the
    /// deployer's `spec.prune`, which `MirrorPrune` follows.
    pub async fn delete_all(
        &self,
        inventory: &Inventory,
        policy: DeletionPolicy,
        prune: bool,
    ) -> Result<PruneReport, PruneError> {
        let entries: Vec<InventoryEntry> = inventory.iter().cloned().collect();
        match policy {
            DeletionPolicy::MirrorPrune if prune => self.delete(entries, false).await,
            DeletionPolicy::Delete => self.delete(entries, false).await,
            DeletionPolicy::WaitForTermination => self.delete(entries, true).await,
            DeletionPolicy::MirrorPrune | DeletionPolicy::Orphan => Ok(PruneReport {
                deleted: Vec::new(),
                kept: entries
                    .into_iter()
                    .map(|e| (e, KeepReason::Orphaned))
                    .collect(),
            }),
        }
    }

    /// Deletes `entries` stage by stage in reverse, waiting until they are gone if asked.
    async fn delete(
        &self,
        entries: Vec<InventoryEntry>,
        wait: bool,
    ) -> Result<PruneReport, PruneError> {
        let mut report = PruneReport::default();
        if entries.is_empty() {
            return Ok(report);
        }
        let targets = self
            .discovery
            .current(|targets| entries.iter().all(|e| targets.serves_entry(e)))
            .await
            .map_err(|e| PruneError::Discovery(Box::new(e)))?;
        let mut outcomes = Vec::with_capacity(entries.len());
        // One stage after the other, so a Namespace or CRD is not deleted (taking its
        // objects with it) before its objects were judged one by one.
        for stage in Stage::ALL.into_iter().rev() {
            let members: Vec<InventoryEntry> = entries
                .iter()
                .filter(|e| Stage::of(&e.id()) == stage)
                .cloned()
                .collect();
            let done: Vec<(
                InventoryEntry,
                Option<Target>,
                Result<Outcome, ObjectFailure>,
            )> = in_order(
                members.into_iter().map(|entry| {
                    let target = targets.resolve_entry(&entry);
                    async move {
                        let outcome = match &target {
                            Some(target) => self.delete_one(target, &entry).await,
                            None => Ok(Outcome::Kept(KeepReason::Gone)),
                        };
                        (entry, target, outcome)
                    }
                }),
                self.options.concurrency,
            )
            .await;
            outcomes.extend(done);
        }
        let mut failures = Vec::new();
        let mut waiting = Vec::new();
        for (entry, target, outcome) in outcomes {
            match outcome {
                Ok(Outcome::Deleted(uid)) => {
                    tracing::info!(object = %entry, "deleted");
                    if let (true, Some(target)) = (wait, target) {
                        waiting.push((entry.clone(), target, uid));
                    }
                    report.deleted.push(entry);
                }
                Ok(Outcome::Kept(reason)) => {
                    tracing::debug!(object = %entry, ?reason, "kept");
                    report.kept.push((entry, reason));
                }
                Err(failure) => failures.push(failure),
            }
        }
        // A deleted CRD takes its kinds with it: the next caller must not find them served.
        // A real API server serves them until the CRD's resources are cleaned up, so a
        // pruner that waits for that forgets what was discovered in between too.
        let crds_deleted = report
            .deleted
            .iter()
            .any(|e| crate::crd::is_crd_id(&e.id()));
        if crds_deleted {
            self.discovery.invalidate().await;
        }
        if !failures.is_empty() {
            return Err(PruneError::Delete {
                failures: Failures(failures),
            });
        }
        self.wait_gone(waiting).await?;
        if crds_deleted && wait {
            self.discovery.invalidate().await;
        }
        Ok(report)
    }

    /// Reads one object and deletes it unless it must be kept.
    async fn delete_one(
        &self,
        target: &Target,
        entry: &InventoryEntry,
    ) -> Result<Outcome, ObjectFailure> {
        let failure = |e: kube::Error| ObjectFailure::from_kube(&entry.id(), &e);
        let Some(live) = target.api.get_opt(&entry.name).await.map_err(failure)? else {
            return Ok(Outcome::Kept(KeepReason::Gone));
        };
        if let Some(reason) = self.keep(&live) {
            return Ok(Outcome::Kept(reason));
        }
        let uid = live.metadata.uid.clone();
        let params = DeleteParams::background().preconditions(Preconditions {
            uid: uid.clone(),
            resource_version: None,
        });
        match target.api.delete(&entry.name, &params).await {
            Ok(_) => Ok(Outcome::Deleted(uid)),
            Err(kube::Error::Api(status)) if status.is_not_found() => {
                Ok(Outcome::Kept(KeepReason::Gone))
            }
            // The uid precondition failed: the object read is gone, another took its name.
            Err(kube::Error::Api(status)) if status.is_conflict() => {
                Ok(Outcome::Kept(KeepReason::Gone))
            }
            Err(e) => Err(failure(e)),
        }
    }

    /// Why `live` must be kept, if it must.
    fn keep(&self, live: &DynamicObject) -> Option<KeepReason> {
        if !self.owner.owns(live.metadata.labels.as_ref()) {
            return Some(KeepReason::NotOwned);
        }
        let policy = Policy::of_live(
            live.metadata.annotations.as_ref(),
            live.metadata.labels.as_ref(),
        );
        policy.keep_on_delete().then_some(KeepReason::Disabled)
    }

    /// Waits until every object (of its uid) is gone, for at most the configured timeout.
    async fn wait_gone(
        &self,
        mut waiting: Vec<(InventoryEntry, Target, Option<String>)>,
    ) -> Result<(), PruneError> {
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        loop {
            let present: Vec<bool> = in_order(
                waiting.iter().map(|(entry, target, uid)| async move {
                    match target.api.get_opt(&entry.name).await {
                        Ok(None) => false,
                        Ok(Some(live)) => uid.is_none() || live.metadata.uid == *uid,
                        // A failed read proves nothing: ask again until the deadline.
                        Err(_) => true,
                    }
                }),
                self.options.concurrency,
            )
            .await;
            let mut present = present.into_iter();
            waiting.retain(|_| present.next().unwrap_or(true));
            if waiting.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PruneError::NotTerminated {
                    remaining: waiting.into_iter().map(|(e, _, _)| e).collect(),
                    timeout: self.options.timeout,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
