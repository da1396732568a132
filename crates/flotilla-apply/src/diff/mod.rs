//! Diff: how the cluster differs from a desired set, without changing it (DESIGN.md §5,
//! drift). For each object the server-side dry-run apply answer (what an apply would
//! store: the live object with this deployer's fields merged in, defaulted, as the server
//! sees it) is compared with the live object ([`compare`]). Fields other managers own and
//! the set does not mention are therefore no difference, as with
//! `kubectl diff --server-side`.
//!
//! Live objects come from one list per resource (by owner labels); an object that exists
//! without them is read on its own. An object the applier's memory shows untouched since
//! it applied the same manifest cannot differ and is not dry-run ([`crate::memory`]). Objects the annotations exclude from applies
//! (`reconcile: disabled`, `ssa: Ignore`, `ssa: IfNotPresent` once present) are not
//! diffed. A Secret's values never leave the engine: its changed keys are named, with
//! [`FieldValue::Hidden`] in place of the values.

mod compare;

use std::collections::HashSet;

use flotilla_render::{Object, ObjectSet};
use futures::{StreamExt, stream};
use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::Value;

pub use compare::{CompareOptions, FieldChange, FieldValue, compare};

use crate::annotations::{Policy, SsaMode};
use crate::applier::Applier;
use crate::error::{ApplyError, ObjectFailure};
use crate::inventory::InventoryEntry;
use crate::live::LiveObjects;
use crate::plan::{AnswerMeta, Body, effective_id, not_served, patch_as, policy_of};
use crate::target::Target;

/// How one object differs from its desired state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "changes", rename_all = "camelCase")]
pub enum Drift {
    /// It does not exist (an apply would create it).
    Missing,
    /// These fields differ.
    Changed(Vec<FieldChange>),
}

/// One object that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectDiff {
    /// The object (its effective namespace, the version compared).
    pub object: InventoryEntry,
    /// How it differs.
    pub drift: Drift,
}

/// The objects of a set that differ from the cluster, in the set's order, and those the
/// dry-run refused (which an apply would fail on).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffReport {
    /// Objects that differ; unchanged objects are not listed.
    pub objects: Vec<ObjectDiff>,
    /// Objects that could not be compared, and why.
    pub failures: Vec<ObjectFailure>,
}

impl DiffReport {
    /// Whether the cluster matches the set (no differences, no failures).
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.failures.is_empty()
    }
}

/// The outcome for one object.
enum Outcome {
    Same,
    Differs(ObjectDiff),
    Failed(ObjectFailure),
}

impl Applier {
    /// Compares `set` with the cluster; see the module docs. Nothing is written.
    pub async fn diff(
        &self,
        set: &ObjectSet,
        options: &CompareOptions,
    ) -> Result<DiffReport, ApplyError> {
        let objects = self.stamped(set);
        // Every kind looked for: a custom resource reported missing because the cached
        // discovery predates its CRD would be a false drift.
        let targets = self.targets(&objects, &HashSet::new()).await?;
        let defined = crate::crd::defined_kinds(&objects);
        // Outcomes carry the object's position, so the report keeps the set's order.
        let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
        let mut resolved = Vec::with_capacity(objects.len());
        for (i, object) in objects.iter().enumerate() {
            match targets.resolve(object) {
                Some(target) => resolved.push((i, object, target)),
                // Not served: its CRD is not there yet, so neither is the object.
                None if defined.contains(&(object.id.group.clone(), object.id.kind.clone())) => {
                    outcomes.push((
                        i,
                        Outcome::Differs(ObjectDiff {
                            object: entry_unserved(object),
                            drift: Drift::Missing,
                        }),
                    ));
                }
                None => outcomes.push((i, Outcome::Failed(not_served(object)))),
            }
        }
        let ctx = self.context();
        let live = LiveObjects::fetch(
            ctx.client,
            ctx.owner,
            ctx.list_scopes,
            resolved.iter().map(|(_, _, t)| t),
        )
        .await?;
        let dry_run = ctx.params.clone().dry_run();
        let compared: Vec<(usize, Outcome)> = stream::iter(resolved)
            .map(|(i, object, target)| {
                let id = effective_id(object, &target);
                let live = live.get(&id);
                let body = Body::of(object, ctx.params.force);
                let untouched = match (&body, live) {
                    (Ok(body), Some(l)) => ctx.memory.untouched(&id, &body.digest, &l.metadata),
                    _ => false,
                };
                let dry_run = &dry_run;
                async move {
                    if untouched {
                        return (i, Outcome::Same);
                    }
                    let outcome = match body {
                        Ok(body) => diff_one(object, &body, &target, live, dry_run, options).await,
                        Err(failure) => Outcome::Failed(failure),
                    };
                    (i, outcome)
                }
            })
            // Outcomes carry their index: finishing order does not matter.
            .buffer_unordered(ctx.concurrency.max(1))
            .collect()
            .await;
        outcomes.extend(compared);
        outcomes.sort_by_key(|(i, _)| *i);
        let mut report = DiffReport::default();
        for (_, outcome) in outcomes {
            match outcome {
                Outcome::Same => {}
                Outcome::Differs(diff) => report.objects.push(diff),
                Outcome::Failed(failure) => report.failures.push(failure),
            }
        }
        Ok(report)
    }
}

/// Compares one object's dry-run with its live state.
async fn diff_one(
    object: &Object,
    body: &Body,
    target: &Target,
    live: Option<&DynamicObject>,
    dry_run: &kube::api::PatchParams,
    options: &CompareOptions,
) -> Outcome {
    let failed = |reason: String| {
        Outcome::Failed(ObjectFailure {
            id: object.id.clone(),
            reason,
        })
    };
    let policy = match Policy::of(&object.value) {
        Ok(policy) => policy,
        Err(e) => return failed(e.to_string()),
    };
    let live_policy = live.map(|l| policy_of(&l.metadata)).unwrap_or_default();
    if policy.excluded()
        || live_policy.reconcile_disabled
        || (policy.ssa == SsaMode::IfNotPresent && live.is_some())
    {
        return Outcome::Same;
    }
    // Read as JSON: it is compared as JSON.
    let desired: Value = match patch_as(target, &object.id.name, body, dry_run).await {
        Ok(dry) => dry,
        Err(e) => return Outcome::Failed(ObjectFailure::from_kube(&object.id, &e)),
    };
    let entry = target.entry(object);
    let dry = AnswerMeta::of_json(&desired);
    if !dry.exists() {
        return Outcome::Differs(ObjectDiff {
            object: entry,
            drift: Drift::Missing,
        });
    }
    if policy.ssa == SsaMode::IfNotPresent || dry.policy().reconcile_disabled {
        return Outcome::Same;
    }
    let live = match live {
        Some(live) => serde_json::to_value(live),
        // It exists without our owner labels: read it.
        None => match target.api.get_opt(&object.id.name).await {
            Ok(Some(live)) => serde_json::to_value(&live),
            Ok(None) => {
                return Outcome::Differs(ObjectDiff {
                    object: entry,
                    drift: Drift::Missing,
                });
            }
            Err(e) => return Outcome::Failed(ObjectFailure::from_kube(&object.id, &e)),
        },
    };
    let Ok(live) = live else {
        return failed("could not serialize the object for comparison".to_owned());
    };
    let secret = object.id.group.is_empty() && object.id.kind == "Secret";
    let changes = compare(&desired, &live, secret, options);
    if changes.is_empty() {
        Outcome::Same
    } else {
        Outcome::Differs(ObjectDiff {
            object: entry,
            drift: Drift::Changed(changes),
        })
    }
}

/// The inventory entry of an object whose kind is not served yet (its namespace as the
/// manifest gives it).
fn entry_unserved(object: &Object) -> InventoryEntry {
    let version = object
        .api_version
        .rsplit_once('/')
        .map_or(object.api_version.as_str(), |(_, v)| v);
    InventoryEntry {
        group: object.id.group.clone(),
        kind: object.id.kind.clone(),
        namespace: object.id.namespace.clone(),
        name: object.id.name.clone(),
        version: version.to_owned(),
    }
}
