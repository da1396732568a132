//! `postBuild.substituteFrom` read from a kubesim management cluster: ConfigMaps and
//! Secrets in order, optional objects tolerated, a missing one named, Secret values kept
//! out of messages.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::collections::BTreeMap;

use common::{Hub, NS};
use flotilla_api::kustomization::PostBuild;
use flotilla_hub::deployers::substitute_from::{
    SubstituteFromError, post_build_variables, variable_sources,
};
use flotilla_render::ClusterInfo;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::PostParams;

fn post_build(value: serde_json::Value) -> PostBuild {
    serde_json::from_value(value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substitute_from_reads_config_maps_and_secrets_from_the_management_cluster()
-> anyhow::Result<()> {
    let hub = Hub::start().await?;
    let mut vars = ConfigMap::default();
    vars.metadata.name = Some("vars".into());
    vars.data = Some(BTreeMap::from([
        ("region".to_owned(), "eu-1".to_owned()),
        ("tier".to_owned(), "gold".to_owned()),
    ]));
    hub.api::<ConfigMap>()
        .create(&PostParams::default(), &vars)
        .await?;
    hub.secret("creds", &[("token", "s3cr3t-token"), ("tier", "platinum")])
        .await?;
    let mut binary = Secret::default();
    binary.metadata.name = Some("binary".into());
    binary.data = Some(BTreeMap::from([(
        "blob".to_owned(),
        ByteString(vec![0xff, 0xfe]),
    )]));
    hub.api::<Secret>()
        .create(&PostParams::default(), &binary)
        .await?;

    let build = post_build(serde_json::json!({
        "substitute": {"host": "web.${cluster_name}.example.com"},
        "substituteFrom": [
            {"kind": "ConfigMap", "name": "vars"},
            {"kind": "Secret", "name": "creds"},
            {"kind": "ConfigMap", "name": "absent", "optional": true},
        ],
    }));
    let sources = variable_sources(&hub.client, NS, &build).await?;
    assert_eq!(
        sources.len(),
        2,
        "the optional missing ConfigMap is skipped"
    );
    assert!(!format!("{sources:?}").contains("s3cr3t"));

    let variables = post_build_variables(&hub.client, NS, &build).await?;
    let cluster = ClusterInfo::from_object(&serde_json::json!({
        "metadata": {"name": "c1", "namespace": NS},
    }))?;
    let resolved = variables.for_cluster(&cluster)?;
    assert_eq!(resolved.get("region"), Some("eu-1"));
    assert_eq!(resolved.get("token"), Some("s3cr3t-token"));
    assert_eq!(resolved.get("tier"), Some("platinum"), "later entries win");
    assert_eq!(resolved.get("host"), Some("web.c1.example.com"));
    assert_eq!(resolved.get("cluster_name"), Some("c1"));

    let missing = post_build(serde_json::json!({
        "substituteFrom": [{"kind": "Secret", "name": "absent"}],
    }));
    let err = variable_sources(&hub.client, NS, &missing)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SubstituteFromError::NotFound { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "postBuild.substituteFrom: Secret 'fleet/absent' not found (set optional: true to tolerate it)"
    );

    let not_text = post_build(serde_json::json!({
        "substituteFrom": [{"kind": "Secret", "name": "binary"}],
    }));
    let err = variable_sources(&hub.client, NS, &not_text)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Secret/binary"), "{err}");
    assert!(err.to_string().contains("\"blob\""), "{err}");
    hub.shutdown().await;
    Ok(())
}
