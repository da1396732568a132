//! One emulated cluster: its configuration and the state its HTTP handlers share.

use crate::crd::{self, CRD_GROUP, CRD_PLURAL, CustomTypes};
use crate::discovery::{Catalog, Definitions};
use crate::pki::ClusterPki;
use crate::request_log::RequestLog;
use crate::store::{ObjectKey, Store};
use serde_json::{Value, json};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How one cluster behaves.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The cluster's name: kubeconfig cluster, user and context names derive from it.
    pub name: String,
    /// What `/version` reports as `gitVersion`, e.g. `v1.35.2`.
    pub kubernetes_version: String,
    /// Whether watches accept `sendInitialEvents=true` (streaming lists). When false they
    /// get the 422 a server with the WatchList feature gate off sends, and clients fall back
    /// to list-then-watch.
    pub watch_list: bool,
    /// How many changes the store keeps for watches that resume from an old resourceVersion.
    pub watch_history: usize,
    /// How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK.
    pub bookmark_interval: Duration,
    /// How long a watch without `timeoutSeconds` stays open.
    pub default_watch_timeout: Duration,
    /// The TCP port; 0 picks a free one at start (and keeps it across restarts).
    pub port: u16,
    /// How many requests the request log keeps (0 turns it off).
    pub request_log_limit: usize,
    /// The IPv4 range Services' cluster IPs are allocated from (`--service-cluster-ip-range`).
    pub service_cidr: String,
    /// The simulated controllers: on or off, default pod behaviour and stage delay.
    pub workloads: crate::controllers::WorkloadConfig,
}

impl ClusterConfig {
    pub fn new(name: impl Into<String>) -> Self {
        ClusterConfig {
            name: name.into(),
            kubernetes_version: "v1.35.2".to_string(),
            watch_list: true,
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
            port: 0,
            request_log_limit: 10_000,
            service_cidr: "10.96.0.0/12".to_string(),
            workloads: Default::default(),
        }
    }
}

/// Process-wide data every cluster reads: the built-in schemas and catalog.
#[derive(Debug)]
pub struct Shared {
    pub definitions: Definitions,
    pub builtin_catalog: Arc<Catalog>,
    /// The built-in types as merge schemas, for server-side apply and managedFields;
    /// `None` if the definitions could not be converted (writes then go untracked).
    pub ssa: Option<crate::ssa::openapi::Definitions>,
}

/// What the handlers of one cluster share. Outlives server restarts: a restarted cluster
/// keeps its objects, like an API server restarting in front of the same etcd.
#[derive(Debug)]
pub struct ClusterState {
    pub config: ClusterConfig,
    pub token: String,
    pub pki: ClusterPki,
    pub store: Store,
    pub catalog: RwLock<Arc<Catalog>>,
    /// What the cluster's CRDs define (see [`crate::crd`]).
    pub custom: RwLock<Arc<CustomTypes>>,
    pub shared: Arc<Shared>,
    pub log: RequestLog,
    /// `host:port` the cluster serves on.
    pub address: String,
    pub faults: crate::faults::Faults,
}

/// The namespaces every real cluster starts with.
const INITIAL_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

impl ClusterState {
    pub fn new(
        config: ClusterConfig,
        pki: ClusterPki,
        shared: Arc<Shared>,
        address: String,
    ) -> Self {
        let token = format!("kubesim-{}", uuid::Uuid::new_v4().simple());
        let state = ClusterState {
            store: Store::new(config.watch_history),
            log: RequestLog::new(config.request_log_limit),
            catalog: RwLock::new(shared.builtin_catalog.clone()),
            custom: RwLock::new(Arc::new(CustomTypes::default())),
            config,
            token,
            pki,
            shared,
            address,
            faults: Default::default(),
        };
        state.seed();
        state
    }

    fn seed(&self) {
        let mut store = self.store.lock();
        let now = crate::api::meta::now();
        for ns in INITIAL_NAMESPACES {
            let obj = json!({
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {
                    "name": ns,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": now,
                    "labels": {"kubernetes.io/metadata.name": ns},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            store.put(ObjectKey::new("", "namespaces", "", ns), obj);
        }
    }

    /// Empties the cluster (objects, custom resources, history) and seeds it again like a
    /// new one. Open watches are not told: the caller restarts the server, which cuts them.
    pub fn wipe(&self) {
        self.store.wipe();
        self.refresh_crds();
        self.seed();
    }

    /// The current catalog (built-ins plus registered custom resources).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn custom(&self) -> Arc<CustomTypes> {
        self.custom
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Recomputes the custom resources after a CRD changed: establishes new CRDs,
    /// registers what they serve and drops the objects of resources no longer served.
    pub fn refresh_crds(&self) {
        let now = crate::api::meta::now();
        let mut store = self.store.lock();
        let crds: Vec<(ObjectKey, Arc<Value>)> = store
            .list(CRD_GROUP, CRD_PLURAL, None)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, object) in crds {
            if meta_deleting(&object) {
                continue;
            }
            if let Some(status) = crd::established_status(&object, &now) {
                let mut object = (*object).clone();
                object["status"] = status;
                store.put(key, object);
            }
        }
        let (catalog, custom) = CustomTypes::from_crds(
            &self.shared.builtin_catalog,
            store
                .list(CRD_GROUP, CRD_PLURAL, None)
                .map(|(_, v)| v.as_ref()),
        );
        let previous = self.custom();
        for (group, plural) in &previous.served {
            if custom.served.contains(&(group.clone(), plural.clone())) {
                continue;
            }
            let gone: Vec<ObjectKey> = store
                .list(group, plural, None)
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                store.remove(&k);
            }
        }
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog);
        *self.custom.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(custom);
    }

    /// Whether namespace `ns` exists, and whether it is terminating.
    pub fn namespace_phase(&self, ns: &str) -> Option<String> {
        let store = self.store.lock();
        let obj: &Value = store.get(&ObjectKey::new("", "namespaces", "", ns))?;
        let terminating = obj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null());
        Some(if terminating { "Terminating" } else { "Active" }.to_string())
    }
}

fn meta_deleting(object: &Value) -> bool {
    crate::api::meta::is_deleting(object)
}
