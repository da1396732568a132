//! Helpers for the tests of the simulated controllers: a fleet with short stage delays, a
//! kube-rs client, polling with a deadline.
#![allow(dead_code)] // Each test binary uses a different subset.

use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kubesim::{ClusterHandle, Fleet, FleetConfig, FleetHandle};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;
use std::time::{Duration, Instant};

pub async fn client(cluster: &ClusterHandle) -> kube::Client {
    let kc = Kubeconfig::from_yaml(&cluster.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

pub async fn fleet(f: impl Fn(&mut kubesim::ClusterConfig)) -> FleetHandle {
    super::common::require_definitions();
    Fleet::start(FleetConfig::with_clusters(1).each(|c| {
        c.workloads.delay = Duration::from_millis(50);
        f(c);
    }))
    .await
    .unwrap()
}

/// Polls `name` until `ok` holds (20 s at most); returns the object.
pub async fn until<K>(api: &Api<K>, name: &str, what: &str, ok: impl Fn(&K) -> bool) -> K
where
    K: Clone + DeserializeOwned + Debug,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(o) = api.get_opt(name).await.unwrap()
            && ok(&o)
        {
            return o;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became {what}: {:#?}",
            api.get_opt(name).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The condition of type `kind` among `conditions`, as JSON.
pub fn condition(conditions: Option<&Vec<impl serde::Serialize>>, kind: &str) -> Option<Value> {
    conditions?
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .find(|c| c["type"] == kind)
}
