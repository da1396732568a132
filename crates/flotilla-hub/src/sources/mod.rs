//! The source reconcilers: one kube-runtime controller per source kind keeps each
//! `GitRepository`, `Bucket`, `HelmRepository` and `OCIRepository` fetched into the hub's
//! artifact store and its status current, as Flux's source-controller does.
//!
//! Every controller fetches through one shared [`Sources`], so equal sources (same URL,
//! ref and credentials) used by many objects are fetched once at a time, and identical
//! content is stored once. A kind plugs in by implementing [`SourceKind`]: how to read its
//! interval, suspension and Secret references, and how to turn its spec (plus the Secrets'
//! data) into a [`SourceSpec`]. The reconcile loop itself is in [`controller`], artifact
//! garbage collection in [`gc`].

mod bucket;
pub mod controller;
pub mod gc;
mod git;
mod helm;
mod oci;
mod secrets;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use flotilla_api::source::SourceStatus;
use flotilla_source::{SourceError, SourceSpec, Sources};
use futures::StreamExt;
use kube::core::NamespaceResourceScope;
use kube::runtime::Controller;
use kube::runtime::controller::Config as ControllerConfig;
use kube::runtime::watcher;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::metrics::Metrics;
use crate::sources::controller::Context;

/// Finalizer on every source: its artifact is garbage-collected before the object goes.
pub const FINALIZER: &str = "finalizers.flotilla.dev";

/// A kind of source the hub reconciles.
pub trait SourceKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// The last status written, if any.
    fn source_status(&self) -> Option<&SourceStatus>;
    /// `spec.interval`.
    fn interval(&self) -> Duration;
    /// `spec.suspend`.
    fn suspended(&self) -> bool;
    /// `spec.secretRef.name`, if set.
    fn secret_name(&self) -> Option<&str>;
    /// `spec.certSecretRef.name`, if the kind has one and it is set.
    fn cert_secret_name(&self) -> Option<&str> {
        None
    }
    /// The source to fetch, given the referenced Secrets' data (when set); `None` when
    /// the object has nothing to fetch (an OCI HelmRepository: charts are pulled on demand).
    fn to_source(&self, secrets: &SecretData) -> Result<Option<SourceSpec>, SourceError>;
}

/// The data of the Secrets a source refers to.
#[derive(Default)]
pub struct SecretData {
    /// `spec.secretRef`'s Secret.
    pub auth: Option<BTreeMap<String, Vec<u8>>>,
    /// `spec.certSecretRef`'s Secret.
    pub cert: Option<BTreeMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for SecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretData(<redacted>)")
    }
}

/// The running source controllers; dropping the handle does not stop them, [`Self::stop`] does.
#[derive(Debug)]
pub struct SourceControllers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    context: Arc<Context>,
}

impl SourceControllers {
    /// Starts a controller per source kind against `client`, fetching through `sources`
    /// and counting fetches in `metrics`, each reconciling at most `concurrency` (at least
    /// one) objects at a time.
    pub fn start(
        client: kube::Client,
        sources: Arc<Sources>,
        metrics: Arc<Metrics>,
        concurrency: u16,
    ) -> Self {
        let context = Arc::new(Context::new(client.clone(), sources, metrics));
        // kube-runtime reads 0 as unbounded.
        let config = ControllerConfig::default().concurrency(concurrency.max(1));
        let tasks = vec![
            spawn::<flotilla_api::GitRepository>(&client, context.clone(), config.clone()),
            spawn::<flotilla_api::Bucket>(&client, context.clone(), config.clone()),
            spawn::<flotilla_api::HelmRepository>(&client, context.clone(), config.clone()),
            spawn::<flotilla_api::OCIRepository>(&client, context.clone(), config),
        ];
        Self { tasks, context }
    }

    /// The shared state of the controllers (fetch statistics, artifact registry).
    pub fn context(&self) -> &Arc<Context> {
        &self.context
    }

    /// Stops every controller; reconciles in flight are abandoned.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

fn spawn<K: SourceKind>(
    client: &kube::Client,
    context: Arc<Context>,
    config: ControllerConfig,
) -> tokio::task::JoinHandle<()> {
    let api: Api<K> = Api::all(client.clone());
    context.register_kind::<K>();
    tokio::spawn(async move {
        Controller::new(api, watcher::Config::default())
            .with_config(config)
            .run(
                controller::reconcile::<K>,
                controller::error_policy::<K>,
                context,
            )
            .for_each(|result| async move {
                if let Err(error) = result {
                    tracing::warn!(kind = %K::kind(&()), error = %error, "source controller error");
                }
            })
            .await;
    })
}
