//! The Job controller: runs pods of the template (named `<job>-<random>`, labelled with the
//! job's name and uid) up to `parallelism` at a time until `completions` succeeded — then
//! SuccessCriteriaMet and Complete — or more than `backoffLimit` failed — then
//! FailureTarget and Failed (BackoffLimitExceeded), its remaining pods deleted. A
//! suspended Job runs nothing. Finished pods stay, as the real controller leaves them.

use super::Cx;
use super::common::{
    self, Condition, condition_true, int, owned, pod_phase, pod_ready, status_mut,
};
use crate::api::meta;
use crate::api::objects::delete_locked;
use crate::store::{ObjectKey, StoreState};
use serde_json::{Value, json};

fn finished(job: &Value) -> bool {
    condition_true(job, "Complete") || condition_true(job, "Failed")
}

pub fn reconcile(cx: &mut Cx<'_>, store: &mut StoreState, key: &ObjectKey) {
    let Some(job) = store.get(key).cloned() else {
        return;
    };
    if meta::is_deleting(&job) || finished(&job) {
        return;
    }
    let uid = meta::meta_str(&job, "uid").unwrap_or("").to_string();
    let parallelism = int(&job, "/spec/parallelism", 1).max(0);
    let completions = int(&job, "/spec/completions", 1).max(0);
    let backoff_limit = int(&job, "/spec/backoffLimit", 6).max(0);
    let suspended = job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
    let pods = owned(store, "", "pods", &key.namespace, &uid);
    let count = |phase: &str| pods.iter().filter(|(_, p)| pod_phase(p) == phase).count() as i64;
    let succeeded = count("Succeeded");
    let failed = count("Failed");
    let active: Vec<&ObjectKey> = pods
        .iter()
        .filter(|(_, p)| !super::pods::finished(p))
        .map(|(k, _)| k)
        .collect();
    let now = cx.wall.clone();
    let mut new = (*job).clone();
    let s = status_mut(&mut new);
    if !suspended && !s.contains_key("startTime") {
        s.insert("startTime".into(), json!(now));
    }
    let mut running = active.len() as i64;
    let ended = if failed > backoff_limit {
        for k in &active {
            delete_locked(store, k, false);
        }
        running = 0;
        let why = || Condition {
            kind: "",
            status: "True",
            reason: "BackoffLimitExceeded",
            message: "Job has reached the specified backoff limit".into(),
        };
        common::set_condition(
            s,
            Condition {
                kind: "FailureTarget",
                ..why()
            },
            &now,
            false,
            false,
        );
        common::set_condition(
            s,
            Condition {
                kind: "Failed",
                ..why()
            },
            &now,
            false,
            false,
        );
        true
    } else if succeeded >= completions {
        let why = || Condition {
            kind: "",
            status: "True",
            reason: "CompletionsReached",
            message: "Reached expected number of completions".into(),
        };
        common::set_condition(
            s,
            Condition {
                kind: "SuccessCriteriaMet",
                ..why()
            },
            &now,
            false,
            false,
        );
        common::set_condition(
            s,
            Condition {
                kind: "Complete",
                ..why()
            },
            &now,
            false,
            false,
        );
        s.insert("completionTime".into(), json!(now));
        true
    } else {
        false
    };
    if !ended && !suspended {
        let want = parallelism.min(completions - succeeded);
        let template = job.pointer("/spec/template").cloned().unwrap_or_default();
        let owner = common::owner_reference(&job, "batch/v1", "Job");
        let like = ObjectKey::new("", "pods", &key.namespace, "");
        while running < want {
            let pod = common::pod_from_template(
                &template,
                owner.clone(),
                &[
                    ("batch.kubernetes.io/controller-uid", &uid),
                    ("batch.kubernetes.io/job-name", &key.name),
                    ("controller-uid", &uid),
                    ("job-name", &key.name),
                ],
            );
            let k = common::create_generated(store, &like, &format!("{}-", key.name), pod);
            cx.enqueue(k);
            running += 1;
        }
    }
    let ready = pods
        .iter()
        .filter(|(_, p)| !super::pods::finished(p) && pod_ready(p))
        .count();
    for (field, value) in [
        ("active", running),
        ("succeeded", succeeded),
        ("failed", failed),
    ] {
        if value == 0 {
            s.remove(field);
        } else {
            s.insert(field.into(), json!(value));
        }
    }
    s.insert("ready".into(), json!(if ended { 0 } else { ready }));
    s.insert("terminating".into(), json!(0));
    s.insert("uncountedTerminatedPods".into(), json!({}));
    common::write(store, key, &job, new);
}
