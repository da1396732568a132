//! A management cluster for the hub's controllers: one kubesim cluster over HTTPS with
//! Flotilla's CRDs installed, a kube client from its kubeconfig file (through the hub's
//! own [`ManagementCluster::connect`]), and the source controllers running against it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use flotilla_hub::management::ManagementCluster;
use flotilla_hub::sources::SourceControllers;
use flotilla_source::{ArtifactStore, Limits, Sources};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kubesim::{Fleet, FleetConfig, FleetHandle};
use tempfile::TempDir;

/// The namespace every test object lives in.
pub const NS: &str = "fleet";

pub struct Hub {
    pub fleet: FleetHandle,
    pub dir: TempDir,
    pub kubeconfig: PathBuf,
    pub client: kube::Client,
    pub sources: Arc<Sources>,
    pub controllers: Option<SourceControllers>,
}

impl Hub {
    /// A management cluster with the CRDs and namespace [`NS`], and the controllers on,
    /// four reconciles per kind at a time (the hub's default).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_concurrency(4).await
    }

    /// As [`Self::start`], with `concurrency` reconciles per kind at a time.
    pub async fn start_with_concurrency(concurrency: u16) -> anyhow::Result<Self> {
        let mut hub = Self::without_controllers().await?;
        hub.controllers = Some(SourceControllers::start(
            hub.client.clone(),
            hub.sources.clone(),
            Arc::new(flotilla_hub::metrics::Metrics::new()),
            concurrency,
        ));
        Ok(hub)
    }

    /// The management cluster alone (for a hub process to run against).
    pub async fn without_controllers() -> anyhow::Result<Self> {
        let fleet = Fleet::start(FleetConfig::named(["mgmt"])).await?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = fleet.clusters()[0].write_kubeconfig(dir.path())?;
        let cluster = ManagementCluster::connect(Some(&kubeconfig)).await?;
        let client = cluster.client;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in flotilla_api::crds::all() {
            crds.create(&PostParams::default(), &crd).await?;
        }
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let mut ns = Namespace::default();
        ns.metadata.name = Some(NS.into());
        namespaces.create(&PostParams::default(), &ns).await?;
        // Established CRDs serve their kinds.
        let gitrepos: Api<flotilla_api::GitRepository> = Api::namespaced(client.clone(), NS);
        eventually("the GitRepository CRD to serve", || async {
            Ok(gitrepos
                .list(&Default::default())
                .await
                .is_ok()
                .then_some(()))
        })
        .await?;
        let store = ArtifactStore::open(dir.path().join("artifacts"), Limits::default())?;
        let sources = Arc::new(Sources::new(store, dir.path().join("cache")));
        Ok(Self {
            fleet,
            dir,
            kubeconfig,
            client,
            sources,
            controllers: None,
        })
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Creates Secret `name` with `data`.
    pub async fn secret(&self, name: &str, data: &[(&str, &str)]) -> anyhow::Result<()> {
        let mut secret = Secret::default();
        secret.metadata.name = Some(name.into());
        secret.data = Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        );
        self.api::<Secret>()
            .create(&PostParams::default(), &secret)
            .await?;
        Ok(())
    }

    pub async fn shutdown(mut self) {
        if let Some(controllers) = self.controllers.take() {
            controllers.stop().await;
        }
        self.fleet.shutdown().await;
    }
}

/// Polls `check` every 100 ms until it yields a value, for at most 60 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check()
            .await
            .with_context(|| format!("waiting for {what}"))?
        {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
