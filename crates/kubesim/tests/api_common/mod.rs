//! kube-rs helpers for the API-machinery tests (immutable fields, defaulting, tables,
//! paging, faults): a client from a cluster's kubeconfig and raw requests.
#![allow(dead_code)] // Each test binary uses a different subset.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kubesim::{ClusterHandle, KubeconfigUser};
use serde_json::Value;

pub async fn config(cluster: &ClusterHandle) -> Config {
    let kc = Kubeconfig::from_yaml(&cluster.kubeconfig_for(KubeconfigUser::Token)).unwrap();
    Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap()
}

pub async fn client(cluster: &ClusterHandle) -> Client {
    Client::try_from(config(cluster).await).unwrap()
}

/// The `Status` of a failed call.
pub fn api_status(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A raw GET with an Accept header; returns the status code and the JSON body.
pub async fn get_json(client: &Client, path: &str, accept: &str) -> (u16, Value) {
    let req = http::Request::get(path)
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .unwrap();
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect_bytes().await.unwrap();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}
