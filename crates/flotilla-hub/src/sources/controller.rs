//! One reconcile of one source object, for every [`SourceKind`].
//!
//! The loop follows Flux's source-controller:
//! - a finalizer is added first; on deletion the artifact is garbage-collected ([`gc`]);
//! - `spec.suspend` stops everything until the spec changes again;
//! - a new generation first says so (`Reconciling=True`, `Ready=Unknown`);
//! - the Secret is read, the source fetched through the shared [`Sources`], and the status
//!   written: `artifact`, `Ready` and `ArtifactInStorage` with Flux's reasons,
//!   `observedGeneration` and `lastHandledReconcileAt`;
//! - the next fetch is `spec.interval` later; after a failure it is sooner, with a backoff
//!   (1 s doubling, never later than the interval); an invalid spec is `Stalled` and
//!   retried each interval only.
//!
//! The controller is woken by every change to the object, including the status it writes
//! itself. A fetch happens only when something asked for one — a new generation, a new
//! `reconcile.flotilla.dev/requestedAt` value, or the interval (or retry) being due; any
//! other wake-up just re-arms the timer. Secrets are not watched: a changed Secret is used
//! from the next interval on, as in Flux.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flotilla_api::conditions::{self, Status, reason};
use flotilla_api::revision::Digest;
use flotilla_api::source::SourceStatus;
use flotilla_api::well_known::RECONCILE_REQUESTED_AT_ANNOTATION;
use flotilla_source::{Artifact, SourceError, Sources};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Api, ResourceExt};

use super::gc::{self, ObjectKey, Registry};
use super::{FINALIZER, SecretData, SourceKind, secrets};
use crate::metrics::Metrics;

/// The first retry after a failure; each further failure doubles it, up to the interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// After an error of the reconcile itself (not of the fetch: writing status, the
/// finalizer), the controller tries again this much later.
const ERROR_REQUEUE: Duration = Duration::from_secs(5);

/// What every source controller shares.
pub struct Context {
    client: kube::Client,
    sources: Arc<Sources>,
    registry: Registry,
    metrics: Arc<Metrics>,
    kinds: Mutex<Vec<ApiResource>>,
    schedule: Mutex<HashMap<ObjectKey, Schedule>>,
}

/// When an object is next due, and what had triggered its last fetch.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    trigger: u64,
    due: Instant,
    failures: u32,
}

/// A reconcile that could not finish; the fetch's own failures go into the status instead.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The object has no namespace or name (sources are namespaced).
    #[error("{0} without a namespace or name")]
    Unnamed(String),
    /// Writing the status failed.
    #[error("{object}: cannot write status: {source}")]
    Status {
        /// `Kind namespace/name`.
        object: String,
        /// The API error.
        source: kube::Error,
    },
    /// Garbage-collecting artifacts failed.
    #[error("{object}: artifact garbage collection failed: {source}")]
    Gc {
        /// `Kind namespace/name`.
        object: String,
        /// Why.
        source: gc::GcError,
    },
    /// Adding or removing the finalizer failed.
    #[error("{object}: {message}")]
    Finalizer {
        /// `Kind namespace/name`.
        object: String,
        /// The finalizer helper's error.
        message: String,
    },
}

/// A failed fetch, as it goes into the `Ready` condition.
struct Failure {
    reason: &'static str,
    message: String,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn new(client: kube::Client, sources: Arc<Sources>, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            sources,
            registry: Registry::default(),
            metrics,
            kinds: Mutex::new(Vec::new()),
            schedule: Mutex::new(HashMap::new()),
        }
    }

    /// The shared fetcher.
    pub fn sources(&self) -> &Arc<Sources> {
        &self.sources
    }

    pub(crate) fn register_kind<K: SourceKind>(&self) {
        self.kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ApiResource::erase::<K>(&()));
    }

    fn kinds(&self) -> Vec<ApiResource> {
        self.kinds.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn schedule(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Schedule>> {
        self.schedule.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn show(key: &ObjectKey) -> String {
    format!("{} {}/{}", key.0, key.1, key.2)
}

/// The controller's reconcile function for kind `K`.
pub async fn reconcile<K: SourceKind>(
    obj: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let kind = K::kind(&()).into_owned();
    let (Some(namespace), Some(name)) = (obj.meta().namespace.clone(), obj.meta().name.clone())
    else {
        return Err(ReconcileError::Unnamed(kind));
    };
    let key: ObjectKey = (kind, namespace.clone(), name);
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(obj) => apply(&api, &obj, &key, &ctx).await,
            Event::Cleanup(_) => cleanup(&key, &ctx).await,
        }
    })
    .await;
    result.map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => ReconcileError::Finalizer {
            object: show(&key),
            message: other.to_string(),
        },
    })
}

/// Logs a failed reconcile and retries it a little later.
pub fn error_policy<K: SourceKind>(
    _obj: Arc<K>,
    error: &ReconcileError,
    _ctx: Arc<Context>,
) -> Action {
    tracing::warn!(error = %error, "source reconcile failed");
    Action::requeue(ERROR_REQUEUE)
}

async fn apply<K: SourceKind>(
    api: &Api<K>,
    obj: &K,
    key: &ObjectKey,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    if obj.suspended() {
        tracing::debug!(object = %show(key), "reconciliation is suspended");
        ctx.schedule().remove(key);
        return Ok(Action::await_change());
    }
    let generation = obj.meta().generation;
    let requested = obj
        .annotations()
        .get(RECONCILE_REQUESTED_AT_ANNOTATION)
        .cloned();
    let trigger = {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (generation, &requested).hash(&mut hasher);
        hasher.finish()
    };
    let now = Instant::now();
    if let Some(s) = ctx.schedule().get(key)
        && s.trigger == trigger
        && s.due > now
    {
        return Ok(Action::requeue(s.due - now));
    }

    let before = obj.source_status().cloned().unwrap_or_default();
    let mut status = before.clone();
    if status.observed_generation != generation {
        conditions::mark_reconciling(
            &mut status.conditions,
            reason::PROGRESSING,
            &format!(
                "building artifact: new generation {}",
                generation.unwrap_or_default()
            ),
            generation,
            Timestamp::now(),
        );
        patch_status(api, key, &status).await?;
    }

    let failures = ctx.schedule().get(key).map_or(0, |s| s.failures);
    let interval = obj.interval();
    let mut replaced = None;
    let fetched = fetch(obj, key, ctx).await;
    let result = match &fetched {
        Ok(_) => reason::SUCCEEDED,
        Err(failure) => failure.reason,
    };
    ctx.metrics
        .source_fetches
        .get_or_create(&vec![
            ("kind".to_owned(), key.0.clone()),
            ("result".to_owned(), result.to_owned()),
        ])
        .inc();
    let (delay, failures) = match fetched {
        Ok((artifact, previous)) => {
            replaced = previous;
            let now = Timestamp::now();
            let message = match &artifact {
                Some(artifact) => {
                    format!("stored artifact for revision '{}'", artifact.revision)
                }
                // Flux's words for an OCI HelmRepository, which has no artifact.
                None => "Helm repository is ready".to_owned(),
            };
            status.artifact = artifact.as_ref().map(Artifact::to_status);
            if artifact.is_none() {
                conditions::remove(&mut status.conditions, conditions::ARTIFACT_IN_STORAGE);
            }
            conditions::mark_ready(
                &mut status.conditions,
                reason::SUCCEEDED,
                &message,
                generation,
                now,
            );
            if artifact.is_some() {
                conditions::set(
                    &mut status.conditions,
                    conditions::ARTIFACT_IN_STORAGE,
                    Status::True,
                    reason::SUCCEEDED,
                    &message,
                    generation,
                    now,
                );
            }
            (interval, 0)
        }
        // A spec that cannot work is Stalled, as in Flux: retrying sooner will not help,
        // but a Secret it reads may still be fixed, so it is tried again each interval.
        Err(failure) if failure.reason == reason::INVALID_SPEC => {
            tracing::info!(object = %show(key), error = %failure.message, "source spec is invalid");
            conditions::mark_stalled(
                &mut status.conditions,
                failure.reason,
                &failure.message,
                generation,
                Timestamp::now(),
            );
            (interval, failures + 1)
        }
        Err(failure) => {
            tracing::info!(object = %show(key), reason = failure.reason, error = %failure.message,
                "source fetch failed");
            conditions::mark_failed(
                &mut status.conditions,
                failure.reason,
                &failure.message,
                generation,
                Timestamp::now(),
            );
            let backoff = FIRST_RETRY.saturating_mul(1 << failures.min(16));
            (backoff.min(interval), failures + 1)
        }
    };
    status.observed_generation = generation;
    if requested.is_some() {
        status.last_handled_reconcile_at = requested;
    }
    if status != before {
        patch_status(api, key, &status).await?;
    }
    // After the status names the new artifact, so the old one is no longer listed as used.
    if replaced.is_some() {
        collect_garbage(key, ctx).await?;
    }
    ctx.schedule().insert(
        key.clone(),
        Schedule {
            trigger,
            due: now + delay,
            failures,
        },
    );
    Ok(Action::requeue(delay))
}

/// Reads the Secrets, fetches, and records the artifact in the registry. Returns the
/// artifact (none for a source with nothing to fetch) and, when it replaced another one of
/// this source, the old digest.
async fn fetch<K: SourceKind>(
    obj: &K,
    key: &ObjectKey,
    ctx: &Context,
) -> Result<(Option<Artifact>, Option<Digest>), Failure> {
    let object = show(key);
    let failed = |e: SourceError| Failure {
        reason: e.reason(),
        message: format!("{object}: {e}"),
    };
    let secrets = SecretData {
        auth: read_secret(ctx, key, obj.secret_name()).await?,
        cert: read_secret(ctx, key, obj.cert_secret_name()).await?,
    };
    let Some(spec) = obj.to_source(&secrets).map_err(failed)? else {
        let mut registry = ctx.registry.lock().await;
        return Ok((None, gc::forget(&mut registry, key)));
    };
    drop(secrets);
    // A collection may remove the artifact between the fetch publishing it and this
    // reconciler recording it (see [`gc`]); then the fetch runs again and writes it anew.
    for _ in 0..3 {
        let artifact = ctx.sources.fetch(&spec).await.map_err(failed)?;
        let mut registry = ctx.registry.lock().await;
        if artifact.path.is_dir() {
            let replaced = gc::record(&mut registry, key.clone(), artifact.digest.clone(), spec);
            return Ok((Some(artifact), replaced));
        }
    }
    Err(Failure {
        reason: reason::STORAGE_OPERATION_FAILED,
        message: format!(
            "{object}: the artifact was garbage-collected three times while being stored"
        ),
    })
}

/// The data of Secret `name` in the object's namespace, if a name is given.
async fn read_secret(
    ctx: &Context,
    key: &ObjectKey,
    name: Option<&str>,
) -> Result<Option<std::collections::BTreeMap<String, Vec<u8>>>, Failure> {
    let Some(name) = name else { return Ok(None) };
    secrets::read(&ctx.client, &key.1, name)
        .await
        .map(Some)
        .map_err(|message| Failure {
            // Flux's reason when a source's Secret cannot be had.
            reason: reason::AUTHENTICATION_FAILED,
            message: format!("{}: {message}", show(key)),
        })
}

async fn cleanup(key: &ObjectKey, ctx: &Context) -> Result<Action, ReconcileError> {
    {
        let mut registry = ctx.registry.lock().await;
        gc::forget(&mut registry, key);
    }
    ctx.schedule().remove(key);
    collect_garbage(key, ctx).await?;
    Ok(Action::await_change())
}

async fn collect_garbage(key: &ObjectKey, ctx: &Context) -> Result<(), ReconcileError> {
    let registry = ctx.registry.lock().await;
    let report = gc::collect(&registry, &ctx.client, &ctx.kinds(), &ctx.sources)
        .await
        .map_err(|source| ReconcileError::Gc {
            object: show(key),
            source,
        })?;
    if !report.removed.is_empty() {
        tracing::info!(object = %show(key), removed = report.removed.len(),
            "garbage-collected artifacts no source uses");
    }
    Ok(())
}

async fn patch_status<K: SourceKind>(
    api: &Api<K>,
    key: &ObjectKey,
    status: &SourceStatus,
) -> Result<(), ReconcileError> {
    let patch = serde_json::json!({ "status": status });
    api.patch_status(&key.2, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|source| ReconcileError::Status {
            object: show(key),
            source,
        })
}
