//! Simulated controllers: what a cluster's controller manager and kubelet would do to
//! workloads, so that health checks (kstatus, `kubectl rollout status`, `helm --wait`)
//! mean something.
//!
//! Modelled on kwok's stages: each controller looks at an object (the selector), waits
//! (the delay) and rewrites its status (the patch). Deployment → ReplicaSet → Pods, Job →
//! Pods, StatefulSet → Pods (and PersistentVolumeClaims), DaemonSet → Pods, Pods through
//! Pending → Running → (Succeeded | Failed), PersistentVolumeClaims Bound. How pods behave
//! is set per cluster ([`WorkloadConfig`]) and per object by annotation ([`behavior`]).
//!
//! One task per cluster, event driven: it follows the store's change feed (the same
//! broadcast watches use) and a timer heap for delays, and sleeps when nothing is due, so
//! an idle cluster costs one parked task. A change enqueues the object and its controller;
//! each reconcile is level-triggered — it reads the store and writes what differs, so its
//! own writes come back as no-ops. If the task falls behind the feed it resyncs everything.
//! The same task runs the garbage collector ([`crate::gc`]).

pub mod behavior;
pub mod common;
pub mod daemonsets;
pub mod deployments;
pub mod jobs;
pub mod pods;
pub mod replicasets;
pub mod statefulsets;
pub mod volumes;

pub use behavior::{Behavior, WorkloadConfig};

use crate::cluster::ClusterState;
use crate::discovery::Catalog;
use crate::store::{EventType, ObjectKey, StoreState, StoredEvent};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::{self, error::RecvError};

/// The resources the controllers act on, as `(group, resource)`.
const WATCHED: [(&str, &str); 7] = [
    ("", "pods"),
    ("apps", "replicasets"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("", "persistentvolumeclaims"),
];

fn watched(key: &ObjectKey) -> bool {
    WATCHED
        .iter()
        .any(|(g, r)| key.group == *g && key.resource == *r)
}

/// What one reconcile sees besides the store: configuration, the clock, and the stage
/// deadlines of objects waiting out a delay.
#[derive(Debug)]
pub struct Cx<'a> {
    pub config: &'a WorkloadConfig,
    pub now: Instant,
    /// Wall-clock now, formatted as the API server does.
    pub wall: String,
    state: &'a mut ControllerState,
}

impl Cx<'_> {
    /// True once `key` has waited `delay` in its current stage; until then remembers the
    /// deadline and arranges to reconcile `key` again when it passes.
    pub fn due(&mut self, key: &ObjectKey, delay: Duration) -> bool {
        if delay.is_zero() {
            self.state.deadlines.remove(key);
            return true;
        }
        match self.state.deadlines.get(key) {
            Some(at) if *at <= self.now => {
                self.state.deadlines.remove(key);
                true
            }
            Some(_) => false,
            None => {
                let at = self.now + delay;
                self.state.deadlines.insert(key.clone(), at);
                self.state.timers.push(Reverse((at, key.clone())));
                false
            }
        }
    }

    /// Forgets a stage deadline (the object moved on some other way, or is gone).
    pub fn forget(&mut self, key: &ObjectKey) {
        self.state.deadlines.remove(key);
    }

    /// Reconciles `key` again after `after`.
    pub fn requeue_after(&mut self, key: &ObjectKey, after: Duration) {
        self.state
            .timers
            .push(Reverse((self.now + after, key.clone())));
    }

    /// Reconciles `key` in this same pass (after the current object).
    pub fn enqueue(&mut self, key: ObjectKey) {
        self.state.queue.insert(key);
    }

    /// The next pod IP of the cluster's one simulated node.
    pub fn next_pod_ip(&mut self) -> String {
        self.state.ips += 1;
        let n = self.state.ips;
        format!("10.244.{}.{}", (n / 250) % 256, n % 250 + 2)
    }
}

/// The controllers' memory between passes; empty for an idle cluster.
#[derive(Debug, Default)]
struct ControllerState {
    /// Objects to reconcile in the next pass.
    queue: BTreeSet<ObjectKey>,
    /// When each object waiting out a stage delay may move on.
    deadlines: HashMap<ObjectKey, Instant>,
    timers: BinaryHeap<Reverse<(Instant, ObjectKey)>>,
    /// Pod IPs handed out so far.
    ips: u32,
    /// The garbage collector, fed by the same change feed.
    gc: crate::gc::Collector,
}

impl ControllerState {
    fn observe(&mut self, event: &StoredEvent) {
        self.gc.observe(event);
        let key = &event.key;
        if !watched(key) {
            return;
        }
        if event.kind == EventType::Deleted {
            self.deadlines.remove(key);
        } else {
            self.queue.insert(key.clone());
        }
        // The controller counts its objects: it hears about every change to them.
        if let Some(owner) = common::controller_key(&event.object, &key.namespace) {
            self.queue.insert(owner);
        }
    }

    fn resync(&mut self, store: &StoreState) {
        self.gc.resync(store);
        for (group, resource) in WATCHED {
            self.queue
                .extend(store.list(group, resource, None).map(|(k, _)| k.clone()));
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, key))) = self.timers.pop() {
                self.queue.insert(key);
            }
        }
        if self.timers.is_empty() {
            // Give back the heap's memory once a burst of activity is over.
            self.timers.shrink_to_fit();
            self.deadlines.shrink_to_fit();
        }
    }

    fn process(&mut self, store: &mut StoreState, config: &WorkloadConfig, catalog: &Catalog) {
        self.gc.process(store, catalog);
        if !config.enabled {
            self.queue.clear();
            return;
        }
        // Each reconcile may enqueue more (a ReplicaSet created by a Deployment); bound
        // the rounds so a bug cannot spin the task, the rest waits for the next event.
        for _ in 0..16 {
            let queue = std::mem::take(&mut self.queue);
            if queue.is_empty() {
                return;
            }
            let now = Instant::now();
            let wall = crate::api::meta::now();
            for key in queue {
                let mut cx = Cx {
                    config,
                    now,
                    wall: wall.clone(),
                    state: self,
                };
                reconcile(&mut cx, store, &key);
            }
        }
    }
}

fn reconcile(cx: &mut Cx<'_>, store: &mut StoreState, key: &ObjectKey) {
    match (key.group.as_str(), key.resource.as_str()) {
        ("", "pods") => pods::reconcile(cx, store, key),
        ("apps", "replicasets") => replicasets::reconcile(cx, store, key),
        ("apps", "deployments") => deployments::reconcile(cx, store, key),
        ("batch", "jobs") => jobs::reconcile(cx, store, key),
        ("apps", "statefulsets") => statefulsets::reconcile(cx, store, key),
        ("apps", "daemonsets") => daemonsets::reconcile(cx, store, key),
        ("", "persistentvolumeclaims") => volumes::reconcile(cx, store, key),
        _ => {}
    }
}

/// Starts the cluster's controllers (the garbage collector always; the workload
/// controllers if the configuration enables them). The task holds the cluster only weakly
/// and ends when the cluster is dropped.
pub fn spawn(state: &Arc<ClusterState>) {
    let events = state.store.lock().subscribe();
    tokio::spawn(run(Arc::downgrade(state), events));
}

async fn run(cluster: Weak<ClusterState>, mut events: broadcast::Receiver<Arc<StoredEvent>>) {
    let mut ctl = ControllerState::default();
    if let Some(state) = cluster.upgrade() {
        ctl.resync(&state.store.lock());
    }
    loop {
        if let Some(state) = cluster.upgrade() {
            let catalog = state.catalog();
            ctl.process(&mut state.store.lock(), &state.config.workloads, &catalog);
        }
        let next = ctl.timers.peek().map(|Reverse((at, _))| *at);
        let received = tokio::select! {
            r = events.recv() => Some(r),
            _ = sleep_until(next), if next.is_some() => None,
        };
        let mut lagged = false;
        match received {
            Some(Ok(event)) => ctl.observe(&event),
            Some(Err(RecvError::Lagged(_))) => lagged = true,
            Some(Err(RecvError::Closed)) => return,
            None => {}
        }
        loop {
            match events.try_recv() {
                Ok(event) => ctl.observe(&event),
                Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                Err(broadcast::error::TryRecvError::Closed) => return,
                Err(broadcast::error::TryRecvError::Empty) => break,
            }
        }
        ctl.fire_timers(Instant::now());
        if lagged && let Some(state) = cluster.upgrade() {
            ctl.resync(&state.store.lock());
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}
