//! The apply of one object set to one cluster, in two phases.
//!
//! **Validate.** Every object is sent as a server-side dry-run apply before anything is
//! written. An object that depends on a definition the same set writes is *deferred*: a
//! custom resource whose CRD is in the set (the set may create the CRD, or change its
//! schema, so only the CRD as applied can judge it), or an object in a Namespace the set
//! creates. Any other refusal fails the run with every refused object named, and nothing
//! is written.
//!
//! **Apply.** Stage by stage ([`Stage`]), objects within a stage in parallel (at most
//! [`ApplyOptions::concurrency`] requests in flight). After the definitions stage the
//! applier waits for the set's CRDs to be Established, refreshes discovery, and
//! dry-runs the deferred objects; if one is refused the run fails having written only
//! the definitions stage, which had itself passed validation (and whose apply is a no-op
//! when those definitions are already in place). Each write is a server-side
//! apply with field manager `flotilla` and strict field validation, so fields the set does
//! not mention stay with whichever manager owns them, and an unknown field is an error
//! rather than a silently dropped value.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use flotilla_api::well_known::FIELD_MANAGER;
use flotilla_render::{Object, ObjectSet};
use futures::{StreamExt, stream};
use kube::Client;
use kube::api::{DynamicObject, Patch, PatchParams};

use crate::crd;
use crate::error::{ApplyError, Failures, ObjectFailure};
use crate::owner::Owner;
use crate::report::{Action, AppliedObject, ApplyReport};
use crate::stage::{Stage, staged};
use crate::target::{Target, Targets};

/// How an [`Applier`] applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Take over fields another field manager owns instead of failing with a conflict
    /// (server-side apply's `force`), as Flux does.
    pub force: bool,
    /// Requests in flight at once within a stage (at least one).
    pub concurrency: usize,
    /// How long to wait for the set's CRDs to become Established.
    pub crd_timeout: Duration,
}

impl Default for ApplyOptions {
    /// Forced, eight requests at a time, CRDs established within a minute.
    fn default() -> Self {
        Self {
            force: true,
            concurrency: 8,
            crd_timeout: Duration::from_secs(60),
        }
    }
}

/// Applies object sets to one cluster on behalf of one deployer.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    owner: Owner,
    options: ApplyOptions,
}

impl fmt::Debug for Applier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applier")
            .field("owner", &self.owner)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The objects the validation phase could not check yet, and those it refused.
struct Partition<'a> {
    ready: Vec<&'a Object>,
    deferred: Vec<&'a Object>,
    failures: Vec<ObjectFailure>,
}

impl Applier {
    /// An applier writing through `client` for the deployer `owner`, with default options.
    pub fn new(client: Client, owner: Owner) -> Self {
        Self {
            client,
            owner,
            options: ApplyOptions::default(),
        }
    }

    /// The same applier with `options`.
    pub fn with_options(mut self, options: ApplyOptions) -> Self {
        self.options = options;
        self
    }

    /// Validates the whole set, then applies it stage by stage; see the module docs.
    pub async fn apply(&self, set: &ObjectSet) -> Result<ApplyReport, ApplyError> {
        let objects: Vec<Object> = set
            .iter()
            .map(|object| {
                let mut object = object.clone();
                self.owner.stamp(&mut object.value);
                object
            })
            .collect();
        let mut targets = Targets::discover(&self.client).await?;

        let partition = self.partition(&targets, &objects).await?;
        let mut failures = partition.failures;
        failures.extend(self.dry_run(&targets, &partition.ready).await);
        if !failures.is_empty() {
            return Err(ApplyError::Invalid {
                failures: Failures(failures),
            });
        }

        let crds: Vec<&str> = objects
            .iter()
            .filter(|o| crd::is_crd(o))
            .map(|o| o.id.name.as_str())
            .collect();
        let mut report = ApplyReport::default();
        for (stage, members) in Stage::ALL.into_iter().zip(staged(&objects)) {
            if stage == Stage::Classes {
                if !crds.is_empty() {
                    crd::wait_established(&self.client, &crds, self.options.crd_timeout).await?;
                    targets = Targets::discover(&self.client).await?;
                }
                let failures = self.dry_run(&targets, &partition.deferred).await;
                if !failures.is_empty() {
                    return Err(ApplyError::Invalid {
                        failures: Failures(failures),
                    });
                }
            }
            tracing::debug!(?stage, objects = members.len(), "applying stage");
            report.objects.extend(self.write(&targets, &members).await?);
        }
        Ok(report)
    }

    /// Sorts objects into those validated now and those that wait for a CRD or Namespace
    /// of the set; an object whose kind is neither defined by the set nor served fails.
    async fn partition<'a>(
        &self,
        targets: &Targets,
        objects: &'a [Object],
    ) -> Result<Partition<'a>, ApplyError> {
        let defined_kinds = crd::defined_kinds(objects);
        let mut new_namespaces = HashSet::new();
        for namespace in objects
            .iter()
            .filter(|o| o.id.group.is_empty() && o.id.kind == "Namespace")
        {
            let Some(target) = targets.resolve(namespace) else {
                continue;
            };
            let live = target
                .api
                .get_opt(&namespace.id.name)
                .await
                .map_err(|source| ApplyError::Cluster {
                    what: format!("reading {}", namespace.id),
                    source,
                })?;
            if live.is_none() {
                new_namespaces.insert(namespace.id.name.as_str());
            }
        }

        let mut partition = Partition {
            ready: Vec::new(),
            deferred: Vec::new(),
            failures: Vec::new(),
        };
        for object in objects {
            let kind = (object.id.group.clone(), object.id.kind.clone());
            if defined_kinds.contains(&kind) {
                partition.deferred.push(object);
                continue;
            }
            match targets.resolve(object) {
                Some(target)
                    if target
                        .namespace
                        .as_deref()
                        .is_some_and(|ns| new_namespaces.contains(ns)) =>
                {
                    partition.deferred.push(object);
                }
                Some(_) => partition.ready.push(object),
                None => partition.failures.push(not_served(object)),
            }
        }
        Ok(partition)
    }

    /// Dry-runs `objects`, returning every refusal in the objects' order.
    async fn dry_run(&self, targets: &Targets, objects: &[&Object]) -> Vec<ObjectFailure> {
        let params = self.params().dry_run();
        stream::iter(objects)
            .map(|object| {
                let params = &params;
                async move {
                    let Some(target) = targets.resolve(object) else {
                        return Some(not_served(object));
                    };
                    patch(&target, object, params)
                        .await
                        .err()
                        .map(|e| ObjectFailure::from_kube(&object.id, &e))
                }
            })
            .buffered(self.options.concurrency.max(1))
            .filter_map(std::future::ready)
            .collect()
            .await
    }

    /// Applies `objects`, reporting each in order, or every refusal.
    async fn write(
        &self,
        targets: &Targets,
        objects: &[&Object],
    ) -> Result<Vec<AppliedObject>, ApplyError> {
        let params = self.params();
        let results: Vec<Result<AppliedObject, ObjectFailure>> = stream::iter(objects)
            .map(|object| {
                let params = &params;
                async move {
                    let target = targets.resolve(object).ok_or_else(|| not_served(object))?;
                    write_one(&target, object, params)
                        .await
                        .map_err(|e| ObjectFailure::from_kube(&object.id, &e))
                }
            })
            .buffered(self.options.concurrency.max(1))
            .collect()
            .await;
        let mut applied = Vec::with_capacity(results.len());
        let mut failures = Vec::new();
        for result in results {
            match result {
                Ok(object) => applied.push(object),
                Err(failure) => failures.push(failure),
            }
        }
        if failures.is_empty() {
            Ok(applied)
        } else {
            Err(ApplyError::Apply {
                failures: Failures(failures),
            })
        }
    }

    /// Server-side apply as `flotilla`, strict field validation, forced if configured.
    fn params(&self) -> PatchParams {
        let params = PatchParams::apply(FIELD_MANAGER).validation_strict();
        if self.options.force {
            params.force()
        } else {
            params
        }
    }
}

/// Reads the object's resourceVersion, applies it, and judges the action from the two.
async fn write_one(
    target: &Target,
    object: &Object,
    params: &PatchParams,
) -> Result<AppliedObject, kube::Error> {
    let before = target.api.get_opt(&object.id.name).await?;
    let after = patch(target, object, params).await?;
    let before = before.and_then(|o| o.metadata.resource_version);
    let action = Action::between(
        before.as_deref(),
        after.metadata.resource_version.as_deref(),
    );
    tracing::debug!(object = %object.id, ?action, "applied");
    Ok(AppliedObject {
        id: object.id.clone(),
        action,
        resource_version: after.metadata.resource_version,
    })
}

/// One server-side apply request.
async fn patch(
    target: &Target,
    object: &Object,
    params: &PatchParams,
) -> Result<DynamicObject, kube::Error> {
    target
        .api
        .patch(&object.id.name, params, &Patch::Apply(&object.value))
        .await
}

/// The failure of an object whose kind the cluster does not serve.
fn not_served(object: &Object) -> ObjectFailure {
    ObjectFailure {
        id: object.id.clone(),
        reason: format!(
            "no resource serves kind {} in {}",
            object.id.kind, object.api_version
        ),
    }
}
