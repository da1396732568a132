//! The scheduler and kubelet of one simulated node, for pods.
//!
//! Stages (each after the pod's delay, except scheduling, which is immediate):
//! 1. scheduled: `spec.nodeName`, phase Pending, PodScheduled, containers waiting in
//!    ContainerCreating (`stuck` pods stay here);
//! 2. started: phase Running with a pod IP, every condition True and containers running
//!    (`crash`: Running, never Ready, CrashLoopBackOff with a growing restart count;
//!    `fail` on a long-running pod: still Pending, ErrImagePull → ImagePullBackOff);
//! 3. for pods that run to completion (`restartPolicy` Never or OnFailure, or a Job's):
//!    Succeeded with exit code 0, or Failed with exit code 1 for `crash` and `fail`.

use super::Cx;
use super::behavior::Behavior;
use super::common::{self, behavior_of};
use crate::api::meta;
use crate::store::{ObjectKey, StoreState};
use serde_json::{Value, json};
use std::time::Duration;

/// The one simulated node.
pub const NODE_NAME: &str = "kubesim-node";
pub const NODE_IP: &str = "10.0.0.10";

/// Longest wait between two restarts of a crash-looping container, as the kubelet's.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

fn runs_to_completion(pod: &Value) -> bool {
    let policy = pod.pointer("/spec/restartPolicy").and_then(Value::as_str);
    matches!(policy, Some("Never" | "OnFailure"))
        || common::controller_ref(pod).and_then(|r| r.get("kind")) == Some(&json!("Job"))
}

fn containers(pod: &Value) -> Vec<(String, String)> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let s = |f: &str| c.get(f).and_then(Value::as_str).unwrap_or("").to_string();
                    (s("name"), s("image"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn qos_class(pod: &Value) -> &'static str {
    let all = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |c: &Value, f: &str| {
        c.pointer(&format!("/resources/{f}"))
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    };
    if all.iter().all(|c| !has(c, "requests") && !has(c, "limits")) {
        "BestEffort"
    } else if all.iter().all(|c| {
        has(c, "limits") && c.pointer("/resources/requests") == c.pointer("/resources/limits")
    }) {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn pod_condition(
    kind: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: &str,
) -> Value {
    let mut c = json!({
        "type": kind,
        "status": if ok { "True" } else { "False" },
        "lastProbeTime": null,
        "lastTransitionTime": now,
    });
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// How the containers are doing in a status being written.
enum Containers<'a> {
    Waiting(&'a str, &'a str),
    Running,
    CrashLooping(i64),
    Terminated(i64),
}

fn container_id(pod: &Value, name: &str) -> String {
    let uid = meta::meta_str(pod, "uid").unwrap_or("");
    format!(
        "containerd://{:08x}{:08x}",
        common::fnv32a(uid.as_bytes()),
        common::fnv32a(name.as_bytes())
    )
}

fn image_id(image: &str) -> String {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = repo
        .rsplit_once(':')
        .map_or(repo, |(r, tag)| if tag.contains('/') { repo } else { r });
    format!(
        "{repo}@sha256:{:08x}{:056x}",
        common::fnv32a(image.as_bytes()),
        0
    )
}

fn container_statuses(
    pod: &Value,
    state: &Containers<'_>,
    started_at: &str,
    now: &str,
) -> Vec<Value> {
    containers(pod)
        .into_iter()
        .map(|(name, image)| {
            let mut s = json!({
                "name": name,
                "image": image,
                "imageID": "",
                "ready": false,
                "restartCount": 0,
                "started": false,
                "lastState": {},
            });
            match state {
                Containers::Waiting(reason, message) => {
                    s["state"] = json!({"waiting": {"reason": reason}});
                    if !message.is_empty() {
                        s["state"]["waiting"]["message"] = json!(message.replace("{image}", &image));
                    }
                }
                Containers::Running => {
                    s["state"] = json!({"running": {"startedAt": started_at}});
                    s["ready"] = json!(true);
                    s["started"] = json!(true);
                }
                Containers::CrashLooping(restarts) => {
                    s["restartCount"] = json!(restarts);
                    s["state"] = json!({"waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": format!("back-off restarting failed container {name} in pod {}_{}({})",
                            meta::meta_str(pod, "name").unwrap_or(""),
                            meta::meta_str(pod, "namespace").unwrap_or(""),
                            meta::meta_str(pod, "uid").unwrap_or("")),
                    }});
                    s["lastState"] = json!({"terminated": {
                        "exitCode": 1, "reason": "Error",
                        "startedAt": started_at, "finishedAt": now,
                        "containerID": container_id(pod, &name),
                    }});
                }
                Containers::Terminated(code) => {
                    s["state"] = json!({"terminated": {
                        "exitCode": code,
                        "reason": if *code == 0 { "Completed" } else { "Error" },
                        "startedAt": started_at, "finishedAt": now,
                        "containerID": container_id(pod, &name),
                    }});
                }
            }
            if !matches!(state, Containers::Waiting(..)) {
                s["containerID"] = json!(container_id(pod, &name));
                s["imageID"] = json!(image_id(&image));
            }
            s
        })
        .collect()
}

fn unready(pod: &Value) -> String {
    let names: Vec<String> = containers(pod).into_iter().map(|(n, _)| n).collect();
    format!("containers with unready status: [{}]", names.join(" "))
}

/// The status of a pod in `phase` with its containers in `state`.
fn status(pod: &Value, phase: &str, state: Containers<'_>, ip: Option<&str>, now: &str) -> Value {
    let old = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    let start = old
        .get("startTime")
        .and_then(Value::as_str)
        .unwrap_or(now)
        .to_string();
    let started_at = old
        .pointer("/containerStatuses/0/state/running/startedAt")
        .and_then(Value::as_str)
        .unwrap_or(now)
        .to_string();
    let ready = matches!(state, Containers::Running);
    let running = !matches!(state, Containers::Waiting(..));
    let completed = matches!(state, Containers::Terminated(_));
    let (reason, message) = if completed {
        (Some("PodCompleted"), None)
    } else if ready {
        (None, None)
    } else {
        (Some("ContainersNotReady"), Some(unready(pod)))
    };
    let conditions = vec![
        pod_condition(
            "PodReadyToStartContainers",
            running && !completed,
            None,
            None,
            now,
        ),
        pod_condition(
            "Initialized",
            true,
            completed.then_some("PodCompleted"),
            None,
            now,
        ),
        pod_condition("Ready", ready, reason, message.clone(), now),
        pod_condition("ContainersReady", ready, reason, message, now),
        pod_condition("PodScheduled", true, None, None, now),
    ];
    let mut s = json!({
        "phase": phase,
        "conditions": keep_transition_times(&old, conditions),
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "startTime": start,
        "qosClass": qos_class(pod),
        "containerStatuses": container_statuses(pod, &state, &started_at, now),
    });
    if let Some(ip) = ip.or_else(|| old.get("podIP").and_then(Value::as_str)) {
        s["podIP"] = json!(ip);
        s["podIPs"] = json!([{"ip": ip}]);
    }
    s
}

/// Keeps each condition's lastTransitionTime when its status did not change.
fn keep_transition_times(old: &Value, mut conditions: Vec<Value>) -> Vec<Value> {
    for c in &mut conditions {
        let prior = old
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|o| o.get("type") == c.get("type")));
        if let Some(p) = prior
            && p.get("status") == c.get("status")
        {
            c["lastTransitionTime"] = p["lastTransitionTime"].clone();
        }
    }
    conditions
}

fn restarts(pod: &Value) -> i64 {
    common::int(pod, "/status/containerStatuses/0/restartCount", 0)
}

fn waiting_reason(pod: &Value) -> Option<&str> {
    pod.pointer("/status/containerStatuses/0/state/waiting/reason")
        .and_then(Value::as_str)
}

pub fn reconcile(cx: &mut Cx<'_>, store: &mut StoreState, key: &ObjectKey) {
    let Some(pod) = store.get(key).cloned() else {
        cx.forget(key);
        return;
    };
    if meta::is_deleting(&pod) {
        cx.forget(key);
        return;
    }
    let (behavior, delay) = behavior_of(store, cx.config, &pod, &key.namespace);
    let completes = runs_to_completion(&pod);
    let now = cx.wall.clone();
    let mut new = (*pod).clone();
    let next = match (common::pod_phase(&pod), behavior) {
        ("", _) => {
            if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                spec.entry("nodeName").or_insert_with(|| json!(NODE_NAME));
            }
            Some(status(
                &pod,
                "Pending",
                Containers::Waiting("ContainerCreating", ""),
                None,
                &now,
            ))
        }
        ("Pending", Behavior::Stuck) => None,
        ("Pending", Behavior::Fail) if !completes => {
            let pulling = waiting_reason(&pod) == Some("ErrImagePull");
            if !cx.due(key, delay) {
                None
            } else if pulling {
                Some(status(
                    &pod,
                    "Pending",
                    Containers::Waiting("ImagePullBackOff", "Back-off pulling image \"{image}\""),
                    None,
                    &now,
                ))
            } else if waiting_reason(&pod) == Some("ImagePullBackOff") {
                None
            } else {
                Some(status(
                    &pod,
                    "Pending",
                    Containers::Waiting(
                        "ErrImagePull",
                        "failed to pull image \"{image}\": not found",
                    ),
                    None,
                    &now,
                ))
            }
        }
        ("Pending", b) => cx.due(key, delay).then(|| {
            let ip = cx.next_pod_ip();
            let state = if b == Behavior::Crash && !completes {
                Containers::CrashLooping(1)
            } else {
                Containers::Running
            };
            status(&pod, "Running", state, Some(&ip), &now)
        }),
        ("Running", Behavior::Crash) if !completes => {
            // Back-off doubles per restart, as the kubelet's does, so a crash-looping pod
            // costs a timer every few minutes, not a busy loop.
            let n = restarts(&pod).max(1);
            let backoff = delay.saturating_mul(1 << n.min(16)).min(MAX_BACKOFF);
            cx.due(key, backoff)
                .then(|| status(&pod, "Running", Containers::CrashLooping(n + 1), None, &now))
        }
        ("Running", b) if completes => cx.due(key, delay).then(|| {
            if b == Behavior::Healthy {
                status(&pod, "Succeeded", Containers::Terminated(0), None, &now)
            } else {
                status(&pod, "Failed", Containers::Terminated(1), None, &now)
            }
        }),
        _ => None,
    };
    if let Some(s) = next {
        if let Some(m) = new.as_object_mut() {
            m.insert("status".into(), s);
        }
        common::write(store, key, &pod, new);
    }
}

/// Whether the pod has stopped for good.
pub fn finished(pod: &Value) -> bool {
    matches!(common::pod_phase(pod), "Succeeded" | "Failed")
}
