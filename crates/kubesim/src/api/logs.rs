//! `GET pods/<name>/log`: what the simulated containers printed.
//!
//! The text is the pod's `kubesim.flotilla.dev/log.<container>` annotation, else its
//! `kubesim.flotilla.dev/log` (both also read from the pod's controller chain), else the
//! cluster's [`WorkloadConfig::log`](crate::controllers::WorkloadConfig) with `{pod}`,
//! `{namespace}` and `{container}` filled in; a container that exited non-zero adds the
//! exit line. `container`, `tailLines`, `timestamps`, `limitBytes` and `previous` are
//! honoured, and the errors are the real server's (a container must be named when there are
//! several; a container waiting to start has no log yet). `follow` returns what there is
//! and ends the stream.

use super::{Ctx, objects};
use crate::controllers::behavior::LOG;
use crate::controllers::common::inherited;
use crate::status::ApiError;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Response, header};
use serde_json::Value;

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn container_status<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|l| {
            pod.pointer(&format!("/status/{l}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
}

/// The container a request addresses, or the real server's complaint.
fn pick_container(pod: &Value, pod_name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    match asked {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {pod_name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::bad_request(message))
        }
    }
}

pub fn get(ctx: &Ctx<'_>, method: &Method) -> Result<Response<Body>, ApiError> {
    if method != Method::GET {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        )));
    }
    let opts = &ctx.query.log;
    let store = ctx.state.store.lock();
    let pod = store
        .get(&objects::key(ctx, ctx.name()))
        .ok_or_else(|| ctx.not_found())?;
    let name = ctx.name();
    let container = pick_container(pod, name, opts.container.as_deref())?;
    let status = container_status(pod, &container);
    let state = |p: &str| status.and_then(|s| s.pointer(p));
    let exit_code = if opts.previous {
        let Some(code) = state("/lastState/terminated/exitCode").and_then(Value::as_i64) else {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        };
        Some(code)
    } else {
        let waiting = state("/state/waiting/reason").and_then(Value::as_str);
        match waiting {
            Some("CrashLoopBackOff") => {
                state("/lastState/terminated/exitCode").and_then(Value::as_i64)
            }
            Some(reason) => {
                return Err(ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
                )));
            }
            None if status.is_none() => {
                return Err(ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
                )));
            }
            None => state("/state/terminated/exitCode").and_then(Value::as_i64),
        }
    };
    let text = inherited(&store, pod, ctx.namespace(), &format!("{LOG}.{container}"))
        .or_else(|| inherited(&store, pod, ctx.namespace(), LOG))
        .map(str::to_string)
        .unwrap_or_else(|| {
            ctx.state
                .config
                .workloads
                .log
                .replace("{pod}", name)
                .replace("{namespace}", ctx.namespace())
                .replace("{container}", &container)
        });
    let started = state("/state/running/startedAt")
        .or_else(|| state("/state/terminated/startedAt"))
        .or_else(|| state("/lastState/terminated/startedAt"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .replace('Z', ".000000000Z");
    drop(store);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if let Some(code) = exit_code.filter(|c| *c != 0) {
        lines.push(format!(
            "kubesim: container {container} exited with code {code}"
        ));
    }
    if let Some(n) = opts.tail_lines {
        let n = usize::try_from(n.max(0)).unwrap_or(0);
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut out = String::new();
    for line in lines {
        if opts.timestamps {
            out.push_str(&started);
            out.push(' ');
        }
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(limit) = opts.limit_bytes {
        let mut cut = limit.min(out.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    let mut r = Response::new(Body::from(out));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}
