//! What happens to each object, decided before anything is written, then done.
//!
//! **Plan.** For each object: its policy (annotations on the manifest and on the live
//! object), the live object (one list per resource, [`LiveObjects`]) and a server-side
//! dry-run apply. The dry-run is both the validation and the change detector: its answer
//! is exactly what the apply would store, so when it equals the live object the apply
//! would be a no-op and is not sent (no request, no resourceVersion change), and when it
//! has no resourceVersion the object does not exist yet. An immutable-field refusal plans
//! a recreation when force allows it. Any other refusal is a failure of the plan.
//!
//! An object the applier's [`Memory`] shows untouched since it applied the same manifest
//! skips the dry-run: nothing about it can have changed.
//!
//! **Write.** Each planned step is carried out: an apply, or a recreation
//! ([`force::recreate`]); the action reported is judged from the resourceVersions the
//! dry-run and the write returned, so no read is needed before or after. Answers whose
//! body is not compared (writes, dry-runs of objects not yet live) are read for the few
//! metadata fields used ([`AnswerMeta`]). Each manifest is serialized once ([`Body`]): its
//! digest, its dry-run and its write share the bytes.

use std::collections::BTreeMap;
use std::time::Duration;

use flotilla_render::{Object, ObjectId};
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::ObjectMeta;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::annotations::{Policy, SsaMode};
use crate::concurrent::in_order;
use crate::error::{ApplyError, ObjectFailure};
use crate::force;
use crate::live::{ListScopes, LiveObjects};
use crate::memory::{self, Digest, Memory, Version};
use crate::owner::Owner;
use crate::report::{Action, AppliedObject};
use crate::target::{Target, Targets};

/// What the write phase does with one object.
#[derive(Debug)]
pub(crate) enum Step {
    /// Nothing: the object is reported with this action (unchanged or skipped) and the
    /// live version, if it exists.
    Keep(Action, Option<Version>),
    /// Server-side apply. `existing` is the resourceVersion the dry-run saw, `None` when
    /// the object is absent.
    Apply { existing: Option<String> },
    /// Delete the live object (of `uid`, when known) and apply anew.
    Recreate { uid: Option<String> },
}

/// One object, where it goes, and what to do with it.
pub(crate) struct Planned<'a> {
    pub object: &'a Object,
    pub target: Target,
    pub step: Step,
    /// The manifest as sent, and its digest for the applier's memory.
    pub body: Body,
}

/// A manifest serialized once (compact JSON): the body of its dry-run and of its write,
/// and the digest the applier's memory keeps.
pub(crate) struct Body {
    json: Box<RawValue>,
    pub digest: Digest,
}

impl Body {
    /// `object`'s manifest, applied with conflicts forced or not.
    pub fn of(object: &Object, force_conflicts: bool) -> Result<Self, ObjectFailure> {
        let json = serde_json::value::to_raw_value(&object.value).map_err(|e| ObjectFailure {
            id: object.id.clone(),
            reason: format!("cannot serialize the manifest: {e}"),
        })?;
        let digest = memory::digest(json.get().as_bytes(), force_conflicts);
        Ok(Self { json, digest })
    }
}

/// The settings planning and writing share.
pub(crate) struct Context<'a> {
    pub client: &'a kube::Client,
    pub owner: &'a Owner,
    /// Server-side apply parameters of the writes (dry-runs add `dryRun=All`).
    pub params: PatchParams,
    /// What the applier last left each object as.
    pub memory: &'a Memory,
    /// Resources this identity may list only per namespace.
    pub list_scopes: &'a ListScopes,
    /// Recreate on immutable-field changes for every object (the deployer's `force`).
    pub force: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long a recreation waits for the deleted object to be gone.
    pub recreate_timeout: Duration,
}

/// Plans `objects`: every object it could plan, in order, and every failure.
pub(crate) async fn plan<'a>(
    ctx: &Context<'_>,
    targets: &Targets,
    objects: &[&'a Object],
) -> Result<(Vec<Planned<'a>>, Vec<ObjectFailure>), ApplyError> {
    let mut failures = Vec::new();
    let mut resolved = Vec::with_capacity(objects.len());
    for object in objects {
        match targets.resolve(object) {
            Some(target) => resolved.push((*object, target)),
            None => failures.push(not_served(object)),
        }
    }
    let live = LiveObjects::fetch(
        ctx.client,
        ctx.owner,
        ctx.list_scopes,
        resolved.iter().map(|(_, t)| t),
    )
    .await?;
    let dry_run = ctx.params.clone().dry_run();
    let outcomes: Vec<Result<Planned<'a>, ObjectFailure>> = in_order(
        resolved.into_iter().map(|(object, target)| {
            let live = live.get(&effective_id(object, &target));
            let dry_run = &dry_run;
            async move {
                let body = Body::of(object, ctx.params.force)?;
                let untouched = live.is_some_and(|l| {
                    ctx.memory
                        .untouched(&effective_id(object, &target), &body.digest, &l.metadata)
                });
                let step =
                    plan_one(ctx.force, untouched, object, &body, &target, live, dry_run).await?;
                Ok(Planned {
                    object,
                    target,
                    step,
                    body,
                })
            }
        }),
        ctx.concurrency,
    )
    .await;
    let mut planned = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome {
            Ok(p) => planned.push(p),
            Err(f) => failures.push(f),
        }
    }
    Ok((planned, failures))
}

/// Decides one object's step from its policy, the live object and a dry-run (skipped for
/// an object `untouched` since this applier applied the same manifest).
async fn plan_one(
    force_all: bool,
    untouched: bool,
    object: &Object,
    body: &Body,
    target: &Target,
    live: Option<&DynamicObject>,
    dry_run: &PatchParams,
) -> Result<Step, ObjectFailure> {
    let policy = Policy::of(&object.value).map_err(|e| ObjectFailure {
        id: object.id.clone(),
        reason: e.to_string(),
    })?;
    let live_policy = live.map(|l| policy_of(&l.metadata)).unwrap_or_default();
    let live_version = live.and_then(|l| Version::of(&l.metadata));
    if policy.excluded() || live_policy.reconcile_disabled {
        return Ok(Step::Keep(Action::Skipped, live_version));
    }
    if policy.ssa == SsaMode::IfNotPresent && live.is_some() {
        return Ok(Step::Keep(Action::Skipped, live_version));
    }
    if untouched {
        return Ok(Step::Keep(Action::Unchanged, live_version));
    }
    // The whole answer only when there is a live object to compare it with.
    let name = &object.id.name;
    let dry = match live {
        Some(live) => patch(target, name, body, dry_run)
            .await
            .map(|dry| compare_with_live(dry, live)),
        None => patch_meta(target, name, body, dry_run)
            .await
            .map(|m| (false, m)),
    };
    let (same_as_live, dry) = match dry {
        Ok(dry) => dry,
        Err(error) => {
            return match force::immutable_fields(&error) {
                Some(_) if force_all || policy.force || live_policy.force => Ok(Step::Recreate {
                    uid: live.and_then(|l| l.metadata.uid.clone()),
                }),
                Some(fields) => Err(force::not_forced(object, &fields, &error)),
                None => Err(ObjectFailure::from_kube(&object.id, &error)),
            };
        }
    };
    let existing = dry.resource_version.clone().filter(|v| !v.is_empty());
    // An object that exists without our owner labels is not among `live`: the dry-run,
    // which merges into it, shows its annotations and that it exists.
    if existing.is_some()
        && (policy.ssa == SsaMode::IfNotPresent || dry.policy().reconcile_disabled)
    {
        return Ok(Step::Keep(Action::Skipped, Version::new(dry.uid, existing)));
    }
    if same_as_live {
        return Ok(Step::Keep(Action::Unchanged, live_version));
    }
    Ok(Step::Apply { existing })
}

/// Carries out the steps, at most `concurrency` requests in flight, reporting each object
/// in order, or every failure.
pub(crate) async fn write(
    ctx: &Context<'_>,
    planned: &[Planned<'_>],
) -> Result<Vec<AppliedObject>, ApplyError> {
    let results: Vec<Result<AppliedObject, ObjectFailure>> =
        in_order(planned.iter().map(|p| write_one(ctx, p)), ctx.concurrency).await;
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
            failures: crate::error::Failures(failures),
        })
    }
}

/// Carries out one step, and remembers what it left the object as.
async fn write_one(
    ctx: &Context<'_>,
    planned: &Planned<'_>,
) -> Result<AppliedObject, ObjectFailure> {
    let Planned {
        object,
        target,
        body,
        ..
    } = planned;
    let (action, version) = match &planned.step {
        Step::Keep(action, version) => (*action, version.clone()),
        Step::Apply { existing } => {
            let after = patch_meta(target, &object.id.name, body, &ctx.params)
                .await
                .map_err(|e| ObjectFailure::from_kube(&object.id, &e))?;
            let action = match existing {
                None => Action::Created,
                Some(before) if Some(before) == after.resource_version.as_ref() => {
                    Action::Unchanged
                }
                Some(_) => Action::Configured,
            };
            (action, Version::new(after.uid, after.resource_version))
        }
        Step::Recreate { uid } => {
            let after = force::recreate(
                target,
                object,
                uid.clone(),
                &ctx.params,
                ctx.recreate_timeout,
            )
            .await?;
            (Action::Recreated, Version::of(&after.metadata))
        }
    };
    if action != Action::Skipped {
        ctx.memory
            .remember(effective_id(object, target), body.digest, version.clone());
    }
    tracing::debug!(object = %object.id, ?action, "applied");
    Ok(AppliedObject {
        id: object.id.clone(),
        entry: target.entry(object),
        action,
        resource_version: version.map(|v| v.resource_version),
    })
}

/// One server-side apply request of the object `name` with `body`.
pub(crate) async fn patch(
    target: &Target,
    name: &str,
    body: &Body,
    params: &PatchParams,
) -> Result<DynamicObject, kube::Error> {
    target
        .api
        .patch(name, params, &Patch::Apply(&*body.json))
        .await
}

/// What the applier reads of an apply's answer: which object in which state, and the
/// annotations and labels a policy is read from. The rest of the answer (managedFields
/// above all) is skipped, not built.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnswerMeta {
    uid: Option<String>,
    resource_version: Option<String>,
    annotations: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// An answer read for [`AnswerMeta`] only.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    metadata: AnswerMeta,
}

impl AnswerMeta {
    /// The metadata of an answer read as JSON (empty when it has none).
    pub fn of_json(answer: &serde_json::Value) -> Self {
        Answer::deserialize(answer)
            .map(|a| a.metadata)
            .unwrap_or_default()
    }

    /// Whether the answer is of an object that exists (it has a resourceVersion).
    pub fn exists(&self) -> bool {
        self.resource_version
            .as_deref()
            .is_some_and(|v| !v.is_empty())
    }

    /// The policy its annotations and labels give.
    pub fn policy(&self) -> Policy {
        Policy::of_live(self.annotations.as_ref(), self.labels.as_ref())
    }
}

/// One server-side apply request whose answer is read for [`AnswerMeta`] only.
async fn patch_meta(
    target: &Target,
    name: &str,
    body: &Body,
    params: &PatchParams,
) -> Result<AnswerMeta, kube::Error> {
    let answer: Answer = patch_as(target, name, body, params).await?;
    Ok(answer.metadata)
}

/// One server-side apply request whose answer is read as a `T`.
pub(crate) async fn patch_as<T: serde::de::DeserializeOwned>(
    target: &Target,
    name: &str,
    body: &Body,
    params: &PatchParams,
) -> Result<T, kube::Error> {
    let request = kube::core::Request::new(target.api.resource_url())
        .patch(name, params, &Patch::Apply(&*body.json))
        .map_err(kube::Error::BuildRequest)?;
    target.client.request(request).await
}

/// The identity of `object` with the namespace `target` writes it to.
pub(crate) fn effective_id(object: &Object, target: &Target) -> ObjectId {
    ObjectId {
        namespace: target.namespace.clone(),
        ..object.id.clone()
    }
}

/// The policy of a live object (or of a dry-run answer, which carries the live
/// object's annotations).
pub(crate) fn policy_of(metadata: &ObjectMeta) -> Policy {
    Policy::of_live(metadata.annotations.as_ref(), metadata.labels.as_ref())
}

/// Whether the dry-run answer equals the live object (the apply would change nothing),
/// and the answer's [`AnswerMeta`]. The resourceVersion and the managedFields timestamps
/// are not compared (a real server keeps both on a no-op apply; a dry-run may restamp the
/// time): the answer takes the live object's before the comparison, rather than both
/// being copied without them.
fn compare_with_live(mut dry: DynamicObject, live: &DynamicObject) -> (bool, AnswerMeta) {
    let metadata = &mut dry.metadata;
    let resource_version = std::mem::replace(
        &mut metadata.resource_version,
        live.metadata.resource_version.clone(),
    );
    if let (Some(entries), Some(live_entries)) = (
        metadata.managed_fields.as_mut(),
        live.metadata.managed_fields.as_ref(),
    ) && entries.len() == live_entries.len()
    {
        for (entry, live_entry) in entries.iter_mut().zip(live_entries) {
            entry.time.clone_from(&live_entry.time);
        }
    }
    let same = dry.data == live.data && dry.metadata == live.metadata;
    let metadata = dry.metadata;
    let answer = AnswerMeta {
        uid: metadata.uid,
        resource_version,
        annotations: metadata.annotations,
        labels: metadata.labels,
    };
    (same, answer)
}

/// The failure of an object whose kind the cluster does not serve.
pub(crate) fn not_served(object: &Object) -> ObjectFailure {
    ObjectFailure {
        id: object.id.clone(),
        reason: format!(
            "no resource serves kind {} in {}",
            object.id.kind, object.api_version
        ),
    }
}
