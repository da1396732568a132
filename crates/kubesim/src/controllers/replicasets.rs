//! The ReplicaSet controller: keeps `spec.replicas` pods of the template, named
//! `<replicaset>-<random>` and owned by the ReplicaSet, and reports how many exist and are
//! ready.

use super::Cx;
use super::common::{self, int, owned, pod_ready, status_mut};
use crate::api::meta;
use crate::api::objects::delete_locked;
use crate::store::{ObjectKey, StoreState};
use serde_json::{Value, json};

pub fn reconcile(cx: &mut Cx<'_>, store: &mut StoreState, key: &ObjectKey) {
    let Some(rs) = common::active(store, key) else {
        return;
    };
    let uid = meta::meta_str(&rs, "uid").unwrap_or("").to_string();
    let desired = int(&rs, "/spec/replicas", 1).max(0) as usize;
    let mut pods = owned(store, "", "pods", &key.namespace, &uid);
    // Finished pods do not count (a ReplicaSet's pods never finish unless they crash out).
    pods.retain(|(_, p)| !super::pods::finished(p));
    if pods.len() < desired {
        let template = rs.pointer("/spec/template").cloned().unwrap_or_default();
        let owner = common::owner_reference(&rs, "apps/v1", "ReplicaSet");
        let like = ObjectKey::new("", "pods", &key.namespace, "");
        for _ in pods.len()..desired {
            let pod = common::pod_from_template(&template, owner.clone(), &[]);
            let pod_key = common::create_generated(store, &like, &format!("{}-", key.name), pod);
            cx.enqueue(pod_key);
        }
    } else if pods.len() > desired {
        // Scale down the least useful first: not ready, then the newest.
        pods.sort_by_key(|(_, p)| {
            (
                pod_ready(p),
                std::cmp::Reverse(
                    meta::meta_str(p, "creationTimestamp")
                        .unwrap_or("")
                        .to_string(),
                ),
            )
        });
        for (k, _) in pods.drain(..pods.len() - desired).collect::<Vec<_>>() {
            delete_locked(store, &k, false);
        }
    }
    let pods = owned(store, "", "pods", &key.namespace, &uid);
    let live: Vec<_> = pods
        .iter()
        .filter(|(_, p)| !super::pods::finished(p))
        .collect();
    let ready = live.iter().filter(|(_, p)| pod_ready(p)).count();
    let mut new = (*rs).clone();
    let s = status_mut(&mut new);
    s.insert("replicas".into(), json!(live.len()));
    s.insert("fullyLabeledReplicas".into(), json!(live.len()));
    s.insert("readyReplicas".into(), json!(ready));
    s.insert("availableReplicas".into(), json!(ready));
    s.insert(
        "observedGeneration".into(),
        rs.pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1)),
    );
    for zero in ["readyReplicas", "availableReplicas", "fullyLabeledReplicas"] {
        if s.get(zero) == Some(&json!(0)) {
            s.remove(zero);
        }
    }
    common::write(store, key, &rs, new);
}

/// `status.availableReplicas` of a ReplicaSet (0 when absent).
pub fn available(rs: &Value) -> i64 {
    int(rs, "/status/availableReplicas", 0)
}
