//! The DaemonSet controller, for the one simulated node: one pod per DaemonSet (named
//! `<set>-<random>`, labelled with the template's `controller-revision-hash`), replaced when
//! it finishes or — with the `RollingUpdate` strategy — when the template changes; and the
//! status kstatus reads (desired, current, ready, available, updated numbers).

use super::Cx;
use super::common::{self, int, owned, pod_ready, status_mut};
use crate::api::meta;
use crate::api::objects::delete_locked;
use crate::store::{ObjectKey, StoreState};
use serde_json::{Value, json};

const REVISION_LABEL: &str = "controller-revision-hash";

fn revision_of(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/labels")?
        .get(REVISION_LABEL)?
        .as_str()
}

pub fn reconcile(cx: &mut Cx<'_>, store: &mut StoreState, key: &ObjectKey) {
    let Some(set) = common::active(store, key) else {
        return;
    };
    let uid = meta::meta_str(&set, "uid").unwrap_or("").to_string();
    let generation = int(&set, "/metadata/generation", 1).to_string();
    let revision = common::template_hash(set.pointer("/spec/template").unwrap_or(&Value::Null));
    let rolling = set
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        != Some("OnDelete");
    for (k, p) in owned(store, "", "pods", &key.namespace, &uid) {
        let outdated = rolling && revision_of(&p) != Some(revision.as_str());
        if super::pods::finished(&p) || outdated {
            delete_locked(store, &k, false);
        }
    }
    let pods = owned(store, "", "pods", &key.namespace, &uid);
    if pods.is_empty() {
        let template = set.pointer("/spec/template").cloned().unwrap_or_default();
        let pod = common::pod_from_template(
            &template,
            common::owner_reference(&set, "apps/v1", "DaemonSet"),
            &[
                (REVISION_LABEL, &revision),
                ("pod-template-generation", &generation),
            ],
        );
        let like = ObjectKey::new("", "pods", &key.namespace, "");
        let k = common::create_generated(store, &like, &format!("{}-", key.name), pod);
        cx.enqueue(k);
    }
    let pods = owned(store, "", "pods", &key.namespace, &uid);
    let count = |f: &dyn Fn(&Value) -> bool| pods.iter().filter(|(_, p)| f(p)).count() as i64;
    let ready = count(&pod_ready);
    let mut new = (*set).clone();
    let s = status_mut(&mut new);
    for (field, value) in [
        ("desiredNumberScheduled", 1),
        ("currentNumberScheduled", pods.len() as i64),
        ("numberMisscheduled", 0),
        ("numberReady", ready),
        ("numberAvailable", ready),
        ("numberUnavailable", 1 - ready.min(1)),
        (
            "updatedNumberScheduled",
            count(&|p| revision_of(p) == Some(revision.as_str())),
        ),
    ] {
        let always = matches!(
            field,
            "desiredNumberScheduled"
                | "currentNumberScheduled"
                | "numberMisscheduled"
                | "numberReady"
        );
        if value == 0 && !always {
            s.remove(field);
        } else {
            s.insert(field.into(), json!(value));
        }
    }
    s.insert(
        "observedGeneration".into(),
        json!(int(&set, "/metadata/generation", 1)),
    );
    common::write(store, key, &set, new);
}
