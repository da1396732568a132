//! The Job controller: runs pods of the template (named `<job>-<random>`, labelled with the
//! job's name and uid) up to `parallelism` at a time until `completions` succeeded — then
//! SuccessCriteriaMet and Complete — or more than `backoffLimit` failed — then
//! FailureTarget and Failed (BackoffLimitExceeded), its remaining pods deleted. A
//! suspended Job runs nothing. A Job active longer than `activeDeadlineSeconds` fails
//! (DeadlineExceeded). Finished pods stay, as the real controller leaves them; a finished
//! Job with `ttlSecondsAfterFinished` is deleted (in the foreground) once that has passed.

use super::Cx;
use super::common::{
    self, Condition, condition_true, int, owned, pod_phase, pod_ready, status_mut,
};
use crate::api::meta;
use crate::api::objects::delete_locked;
use crate::store::{ObjectKey, StoreState};
use serde_json::{Map, Value, json};
use std::time::Duration;

fn finished(job: &Value) -> bool {
    condition_true(job, "Complete") || condition_true(job, "Failed")
}

/// Sets the two conditions a Job ends with (`FailureTarget` then `Failed`, or
/// `SuccessCriteriaMet` then `Complete`), true for one reason.
fn end(status: &mut Map<String, Value>, kinds: [&str; 2], reason: &str, message: &str, now: &str) {
    for kind in kinds {
        let condition = Condition {
            kind,
            status: "True",
            reason,
            message: message.into(),
        };
        common::set_condition(status, condition, now, false, false);
    }
}

pub fn reconcile(cx: &mut Cx<'_>, store: &mut StoreState, key: &ObjectKey) {
    let Some(job) = common::active(store, key) else {
        return;
    };
    if finished(&job) {
        expire(cx, store, key, &job);
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
    let deadline = job
        .pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .and_then(|d| Some(seconds_left(s.get("startTime")?.as_str()?, d)));
    let past_deadline = deadline.is_some_and(|left| left <= 0);
    let ended = if failed > backoff_limit || past_deadline {
        for k in &active {
            delete_locked(store, k, false);
        }
        running = 0;
        let (reason, message) = if past_deadline {
            (
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            )
        } else {
            (
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
        };
        end(s, ["FailureTarget", "Failed"], reason, message, &now);
        true
    } else if succeeded >= completions {
        end(
            s,
            ["SuccessCriteriaMet", "Complete"],
            "CompletionsReached",
            "Reached expected number of completions",
            &now,
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
    if !ended && let Some(left) = deadline {
        cx.requeue_after(key, Duration::from_secs(left.max(0).unsigned_abs() + 1));
    }
}

/// Seconds from now until `seconds` after the RFC 3339 time `since` (negative once past).
fn seconds_left(since: &str, seconds: i64) -> i64 {
    let Ok(since) = chrono::DateTime::parse_from_rfc3339(since) else {
        return seconds;
    };
    (since + chrono::Duration::seconds(seconds))
        .signed_duration_since(chrono::Utc::now())
        .num_seconds()
}

/// The TTL-after-finished controller: deletes a finished Job, and through the garbage
/// collector its pods, `ttlSecondsAfterFinished` after it finished.
fn expire(cx: &mut Cx<'_>, store: &mut StoreState, key: &ObjectKey, job: &Value) {
    let Some(ttl) = job
        .pointer("/spec/ttlSecondsAfterFinished")
        .and_then(Value::as_i64)
    else {
        return;
    };
    let finished_at = ["Complete", "Failed"]
        .iter()
        .filter_map(|c| common::condition(job, c))
        .find_map(|c| c.get("lastTransitionTime")?.as_str())
        .unwrap_or("");
    let left = seconds_left(finished_at, ttl);
    if left <= 0 {
        crate::gc::delete(store, key, false, crate::gc::Propagation::Foreground);
    } else {
        cx.requeue_after(key, Duration::from_secs(left.unsigned_abs() + 1));
    }
}
