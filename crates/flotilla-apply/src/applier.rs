//! The apply of one object set to one cluster, in two phases.
//!
//! **Validate.** Every object is planned ([`crate::plan`]) before anything is written:
//! its annotations are read, the live objects are listed, and each object is sent as a
//! server-side dry-run apply. An object that depends on a definition the same set writes
//! is *deferred*: a custom resource whose CRD is in the set (the set may create the CRD,
//! or change its schema, so only the CRD as applied can judge it), or an object in a
//! Namespace the set creates. Any other refusal fails the run with every refused object
//! named, and nothing is written. An immutable-field refusal plans a recreation when
//! force allows it, and fails the run otherwise.
//!
//! **Apply.** Stage by stage ([`Stage`]), objects within a stage in parallel (at most
//! [`ApplyOptions::concurrency`] requests in flight). After the definitions stage the
//! applier waits for the set's CRDs to be Established, refreshes discovery, and
//! plans the deferred objects; if one is refused the run fails having written only
//! the definitions stage, which had itself passed validation (and whose apply is a no-op
//! when those definitions are already in place). Each write is a server-side
//! apply with field manager `flotilla` and strict field validation, so fields the set does
//! not mention stay with whichever manager owns them, and an unknown field is an error
//! rather than a silently dropped value. Objects whose dry-run equals the live object are
//! not written at all.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::well_known::FIELD_MANAGER;
use flotilla_render::{Object, ObjectId, ObjectSet};
use kube::Client;
use kube::api::PatchParams;

use crate::concurrent::in_order;
use crate::crd;
use crate::discovery::ApiDiscovery;
use crate::error::{ApplyError, Failures};
use crate::live::ListScopes;
use crate::memory::{ForeignMemory, Memory, MemorySnapshot};
use crate::owner::Owner;
use crate::plan::{self, Context, Planned};
use crate::report::{Action, ApplyReport};
use crate::stage::Stage;
use crate::target::Targets;

/// How an [`Applier`] applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Take over fields another field manager owns instead of failing with a conflict
    /// (server-side apply's `force`), as Flux always does.
    pub force_conflicts: bool,
    /// Recreate every object whose immutable fields changed (the deployer's `force`);
    /// without it only objects annotated `flotilla.dev/force: enabled` are recreated and
    /// any other immutable-field change fails the run.
    pub force: bool,
    /// Requests in flight at once within a stage (at least one). Sixteen kept a kubesim
    /// server and the applier sharing two cores busier than eight, which left them
    /// waking each other (cold applies of 500 objects about 12% faster, 32 no faster);
    /// an API server's priority and fairness queues bound what one client gets anyway.
    pub concurrency: usize,
    /// How long to wait for the set's CRDs to become Established.
    pub crd_timeout: Duration,
    /// How long a recreation waits for the deleted object to be gone.
    pub recreate_timeout: Duration,
}

impl Default for ApplyOptions {
    /// Conflicts forced, no recreation, sixteen requests at a time, CRDs established and
    /// recreated objects gone within a minute.
    fn default() -> Self {
        Self {
            force_conflicts: true,
            force: false,
            concurrency: 16,
            crd_timeout: Duration::from_secs(60),
            recreate_timeout: Duration::from_secs(60),
        }
    }
}

/// Applies object sets to one cluster on behalf of one deployer. It remembers what it
/// applied ([`crate::memory`]): keep one applier per cluster and deployer between runs
/// (clones share the memory) so that unchanged objects cost no request.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    owner: Owner,
    options: ApplyOptions,
    memory: Memory,
    discovery: ApiDiscovery,
    list_scopes: ListScopes,
}

impl fmt::Debug for Applier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applier")
            .field("owner", &self.owner)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The objects the validation phase could check now, and those that wait for a CRD or a
/// Namespace of the set.
struct Partition<'a> {
    ready: Vec<&'a Object>,
    deferred: Vec<&'a Object>,
}

impl Applier {
    /// An applier writing through `client` for the deployer `owner`, with default options.
    pub fn new(client: Client, owner: Owner) -> Self {
        Self {
            discovery: ApiDiscovery::new(client.clone()),
            client,
            owner,
            options: ApplyOptions::default(),
            memory: Memory::default(),
            list_scopes: ListScopes::default(),
        }
    }

    /// The same applier, resolving kinds through `discovery` (of the same cluster),
    /// shared with the cluster's other appliers, pruners and health checkers.
    pub fn with_discovery(mut self, discovery: ApiDiscovery) -> Self {
        self.discovery = discovery;
        self
    }

    /// The same applier with `options`.
    pub fn with_options(mut self, options: ApplyOptions) -> Self {
        self.options = options;
        self
    }

    /// The same applier remembering what `snapshot` records (taken by
    /// [`memory_snapshot`](Self::memory_snapshot) of an applier for the same deployer,
    /// e.g. before a restart), in place of what it remembered. A snapshot of another
    /// deployer is refused; one of another cluster matches no object there.
    pub fn with_memory(mut self, snapshot: MemorySnapshot) -> Result<Self, ForeignMemory> {
        self.memory = Memory::restore(&self.owner, snapshot)?;
        Ok(self)
    }

    /// What this applier remembers of its writes, to store (e.g. next to the inventory)
    /// and hand to the next applier with [`with_memory`](Self::with_memory).
    pub fn memory_snapshot(&self) -> MemorySnapshot {
        self.memory.snapshot(&self.owner)
    }

    /// The deployer this applier acts for.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The client it writes through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Validates the whole set, then applies it stage by stage; see the module docs.
    /// The report's [`inventory`](ApplyReport::inventory) is what to hand to the next
    /// prune.
    pub async fn apply(&self, set: &ObjectSet) -> Result<ApplyReport, ApplyError> {
        let objects = self.stamped(set);
        let defined_kinds = crd::defined_kinds(&objects);
        let mut targets = self.targets(&objects, &defined_kinds).await?;
        let ctx = self.context();

        let partition = self.partition(&targets, &objects, &defined_kinds).await?;
        let (planned, failures) = plan::plan(&ctx, &targets, &partition.ready).await?;
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
        let position: HashMap<_, _> = objects
            .iter()
            .enumerate()
            .map(|(i, o)| (&o.id, i))
            .collect();
        let mut report = ApplyReport::default();
        let mut planned = staged_plans(planned);
        for stage in Stage::ALL {
            if stage == Stage::Classes && !partition.deferred.is_empty() {
                if !crds.is_empty() {
                    crd::wait_established(&self.client, &crds, self.options.crd_timeout).await?;
                    targets = self.discovery.refresh().await?;
                }
                let (deferred, failures) = plan::plan(&ctx, &targets, &partition.deferred).await?;
                if !failures.is_empty() {
                    return Err(ApplyError::Invalid {
                        failures: Failures(failures),
                    });
                }
                for (i, later) in staged_plans(deferred).into_iter().enumerate().skip(1) {
                    planned[i].extend(later);
                }
            }
            let mut members = std::mem::take(&mut planned[stage as usize]);
            // Within a stage, the set's order (deferred objects were planned later).
            members.sort_by_key(|p| position.get(&p.object.id).copied());
            tracing::debug!(?stage, objects = members.len(), "applying stage");
            let written = plan::write(&ctx, &members).await?;
            // What the cluster serves changed with the CRDs. With deferred objects the
            // next stage waits for them and discovers again; without, the next caller
            // must (even if a later stage of this run fails).
            if stage == Stage::Definitions
                && partition.deferred.is_empty()
                && written.iter().any(|o| {
                    crd::is_crd_id(&o.id)
                        && !matches!(o.action, Action::Unchanged | Action::Skipped)
                })
            {
                self.discovery.invalidate().await;
            }
            report.objects.extend(written);
        }
        let applied: HashSet<ObjectId> = report.objects.iter().map(|o| o.entry.id()).collect();
        self.memory.retain(&applied);
        Ok(report)
    }

    /// The set's objects with the owner labels on each.
    pub(crate) fn stamped(&self, set: &ObjectSet) -> Vec<Object> {
        set.iter()
            .map(|object| {
                let mut object = object.clone();
                self.owner.stamp(&mut object.value);
                object
            })
            .collect()
    }

    /// A discovery serving every kind of `objects` but those of `may_wait` (`(group,
    /// kind)`: an apply's custom resources whose CRD the set defines, which are planned
    /// again against a new discovery once their CRDs are established).
    pub(crate) async fn targets(
        &self,
        objects: &[Object],
        may_wait: &HashSet<(String, String)>,
    ) -> Result<Arc<Targets>, ApplyError> {
        self.discovery
            .current(|targets| {
                objects.iter().all(|o| {
                    targets.serves(o) || may_wait.contains(&(o.id.group.clone(), o.id.kind.clone()))
                })
            })
            .await
    }

    /// What planning and writing need to know.
    pub(crate) fn context(&self) -> Context<'_> {
        Context {
            client: &self.client,
            owner: &self.owner,
            params: self.params(),
            memory: &self.memory,
            list_scopes: &self.list_scopes,
            force: self.options.force,
            concurrency: self.options.concurrency,
            recreate_timeout: self.options.recreate_timeout,
        }
    }

    /// Sorts objects into those validated now and those that wait for a CRD or Namespace
    /// of the set.
    async fn partition<'a>(
        &self,
        targets: &Targets,
        objects: &'a [Object],
        defined_kinds: &HashSet<(String, String)>,
    ) -> Result<Partition<'a>, ApplyError> {
        let reads = in_order(
            objects
                .iter()
                .filter(|o| o.id.group.is_empty() && o.id.kind == "Namespace")
                .filter_map(|namespace| Some((namespace, targets.resolve(namespace)?)))
                .map(|(namespace, target)| async move {
                    let live = target
                        .api
                        .get_opt(&namespace.id.name)
                        .await
                        .map_err(|source| ApplyError::Cluster {
                            what: format!("reading {}", namespace.id),
                            source,
                        })?;
                    Ok::<_, ApplyError>(live.is_none().then_some(namespace.id.name.as_str()))
                }),
            self.options.concurrency,
        )
        .await;
        let mut new_namespaces = HashSet::new();
        for read in reads {
            new_namespaces.extend(read?);
        }

        let mut partition = Partition {
            ready: Vec::new(),
            deferred: Vec::new(),
        };
        for object in objects {
            let kind = (object.id.group.clone(), object.id.kind.clone());
            let deferred = defined_kinds.contains(&kind)
                || targets.resolve(object).is_some_and(|target| {
                    target
                        .namespace
                        .as_deref()
                        .is_some_and(|ns| new_namespaces.contains(ns))
                });
            if deferred {
                partition.deferred.push(object);
            } else {
                partition.ready.push(object);
            }
        }
        Ok(partition)
    }

    /// Server-side apply as `flotilla`, strict field validation, conflicts forced if
    /// configured.
    fn params(&self) -> PatchParams {
        let params = PatchParams::apply(FIELD_MANAGER).validation_strict();
        if self.options.force_conflicts {
            params.force()
        } else {
            params
        }
    }
}

/// Planned objects split into the stages, in [`Stage::ALL`] order.
fn staged_plans(planned: Vec<Planned<'_>>) -> [Vec<Planned<'_>>; 3] {
    let mut stages: [Vec<Planned<'_>>; 3] = Default::default();
    for p in planned {
        // The discriminants are 0, 1 and 2, the positions in `Stage::ALL`.
        stages[Stage::of(&p.object.id) as usize].push(p);
    }
    stages
}
