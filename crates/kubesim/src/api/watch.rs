//! Watch: a chunked stream of newline-delimited `{"type": …, "object": …}` events.
//!
//! Where a watch starts:
//! - `sendInitialEvents=true` (a streaming list): every matching object as ADDED, then a
//!   BOOKMARK annotated `k8s.io/initial-events-end: "true"`, then live events — or, on a
//!   cluster configured without streaming lists, the 422 a server with the WatchList
//!   feature gate off returns, so clients fall back to list-then-watch;
//! - `resourceVersion` unset or `"0"`: synthetic ADDED events for the current state, then
//!   live events;
//! - `resourceVersion=N`: every change after N replayed from the cluster's history, then
//!   live events; if the history no longer reaches back to N, the response is still 200 and
//!   the stream carries one ERROR event with a 410 Expired Status (clients such as kube-rs
//!   relist only on that in-stream error).
//!
//! Live events are filtered by resource, namespace and selectors; an object that starts
//! matching a selector arrives as ADDED and one that stops matching as DELETED.
//! `timeoutSeconds` ends the stream (after a last BOOKMARK when bookmarks are allowed);
//! `allowWatchBookmarks` also brings a BOOKMARK every `bookmark_interval`.

use super::objects::Presented;
use super::{Ctx, list};
use crate::discovery::ResourceInfo;
use crate::selectors::Selectors;
use crate::status::ApiError;
use crate::store::{EventType, StoredEvent};
use axum::body::Body;
use axum::http::{HeaderValue, Response, header};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

/// The 422 of a server whose WatchList feature gate is off, byte for byte in its fields.
fn watch_list_forbidden() -> ApiError {
    let detail =
        "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled";
    let mut e = ApiError::new(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: {detail}"),
    );
    e.details.group = Some("meta.k8s.io".to_string());
    e.details.kind = Some("ListOptions".to_string());
    e.with_cause(
        "FieldValueForbidden",
        &format!("Forbidden: {detail}"),
        "sendInitialEvents",
    )
}

/// One watch event, `{"object": …, "type": …}` (fields in key order, as `json!` writes them).
#[derive(Debug, Serialize)]
struct Line<'a, T: ?Sized> {
    object: &'a T,
    #[serde(rename = "type")]
    kind: &'a str,
}

fn line<T: Serialize + ?Sized>(kind: &str, object: &T) -> Bytes {
    let mut bytes = serde_json::to_vec(&Line { object, kind }).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn bookmark(info: &ResourceInfo, rv: u64, initial_events_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        "BOOKMARK",
        &json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": metadata}),
    )
}

/// How a watch presents objects: whole, as metadata, or as one-row Tables.
#[derive(Debug, Clone)]
struct Render {
    metadata_only: bool,
    table: Option<Arc<super::table::TableSpec>>,
}

/// The line of an event about `object`.
fn object_line(kind: &str, info: &ResourceInfo, render: &Render, object: &Value) -> Bytes {
    if let Some(spec) = &render.table {
        let row = spec.row(info, object, chrono::Utc::now());
        let rv = object
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        return line(kind, &spec.table(vec![row], json!({"resourceVersion": rv})));
    }
    if render.metadata_only {
        return line(kind, &super::partial::partial(object));
    }
    line(
        kind,
        &Presented {
            object,
            api_version: std::borrow::Cow::Owned(info.api_version()),
            kind: &info.kind,
        },
    )
}

/// What one running watch needs, owned by its stream.
struct Watcher {
    info: Arc<ResourceInfo>,
    namespace: Option<String>,
    selectors: Selectors,
    pending: VecDeque<Bytes>,
    events: broadcast::Receiver<Arc<StoredEvent>>,
    /// Highest resourceVersion this watch has passed (events of any resource count: the
    /// counter is per cluster), what a BOOKMARK reports.
    rv: u64,
    bookmarks: bool,
    bookmark_interval: Duration,
    next_bookmark: Instant,
    deadline: Instant,
    done: bool,
    /// Changes when the cluster drops all watches (fault injection).
    dropped: tokio::sync::watch::Receiver<u64>,
    render: Render,
}

/// The line a watch of `info` in `namespace` with `selectors` sends for a stored event,
/// if it sees the event at all.
fn translate(
    info: &ResourceInfo,
    namespace: Option<&str>,
    selectors: &Selectors,
    render: &Render,
    event: &StoredEvent,
) -> Option<Bytes> {
    let k = &event.key;
    if k.group != info.group || k.resource != info.plural {
        return None;
    }
    if namespace.is_some_and(|ns| ns != k.namespace) {
        return None;
    }
    let now = selectors.matches(&event.object);
    let before = event
        .previous
        .as_ref()
        .is_some_and(|p| selectors.matches(p));
    let kind = match (event.kind, before, now) {
        (EventType::Added, _, true) => "ADDED",
        (EventType::Modified, true, true) => "MODIFIED",
        (EventType::Modified, false, true) => "ADDED",
        (EventType::Modified, true, false) => "DELETED",
        (EventType::Deleted, true, _) => "DELETED",
        _ => return None,
    };
    Some(object_line(kind, info, render, &event.object))
}

impl Watcher {
    fn translate(&self, event: &StoredEvent) -> Option<Bytes> {
        translate(
            &self.info,
            self.namespace.as_deref(),
            &self.selectors,
            &self.render,
            event,
        )
    }

    /// The next chunk, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(b) = self.pending.pop_front() {
            return Some(b);
        }
        loop {
            if self.done {
                return None;
            }
            let bookmark_at = if self.bookmarks {
                self.next_bookmark
            } else {
                self.deadline
            };
            tokio::select! {
                received = self.events.recv() => match received {
                    Ok(event) => {
                        self.rv = self.rv.max(event.resource_version);
                        if let Some(b) = self.translate(&event) {
                            return Some(b);
                        }
                    }
                    // Too slow to keep up, or the cluster is gone: end the stream; the
                    // client resumes from the last resourceVersion it saw.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return None,
                },
                _ = self.dropped.changed() => return None,
                _ = tokio::time::sleep_until(self.deadline) => {
                    self.done = true;
                    if self.bookmarks {
                        return Some(bookmark(&self.info, self.rv, false));
                    }
                    return None;
                }
                _ = tokio::time::sleep_until(bookmark_at), if self.bookmarks => {
                    self.next_bookmark = Instant::now() + self.bookmark_interval;
                    return Some(bookmark(&self.info, self.rv, false));
                }
            }
        }
    }
}

fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_request(format!("invalid resource version {s:?}")).with_cause(
            "FieldValueInvalid",
            "invalid resource version",
            "resourceVersion",
        )
    })
}

pub fn watch(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    if ctx.path.subresource.is_some() {
        return Err(ApiError::no_route());
    }
    let selectors = list::selectors(ctx)?;
    let send_initial = ctx.query.send_initial_events;
    if send_initial.is_some() && !ctx.state.config.watch_list {
        return Err(watch_list_forbidden());
    }
    let config = &ctx.state.config;
    let timeout = ctx
        .query
        .timeout_seconds
        .filter(|t| *t > 0)
        .map(Duration::from_secs)
        .unwrap_or(config.default_watch_timeout);
    let mut pending = VecDeque::new();
    let (events, rv, render) = {
        let store = ctx.state.store.lock();
        let events = store.subscribe();
        let current = store.resource_version();
        let requested = ctx
            .query
            .resource_version
            .as_deref()
            .filter(|s| !s.is_empty() && *s != "0");
        let render = Render {
            metadata_only: ctx.metadata_only,
            table: ctx
                .table
                .then(|| Arc::new(super::table::TableSpec::new(ctx, &store))),
        };
        let snapshot = |pending: &mut VecDeque<Bytes>| {
            for (_, o) in store.candidates(
                &ctx.info.group,
                &ctx.info.plural,
                ctx.path.namespace.as_deref(),
                &selectors.labels,
            ) {
                if selectors.matches(o) {
                    pending.push_back(object_line("ADDED", &ctx.info, &render, o));
                }
            }
        };
        if send_initial == Some(true) {
            snapshot(&mut pending);
            pending.push_back(bookmark(&ctx.info, current, true));
        } else if let Some(rv) = requested {
            let rv = parse_rv(rv)?;
            match store.events_after(rv) {
                Some(replay) => {
                    let ns = ctx.path.namespace.as_deref();
                    pending.extend(
                        replay
                            .iter()
                            .filter_map(|e| translate(&ctx.info, ns, &selectors, &render, e)),
                    );
                }
                None => {
                    let status = ApiError::expired(rv, store.compacted()).to_status();
                    pending.push_back(line("ERROR", &status));
                    return Ok(stream_response(Watcher {
                        info: ctx.info.clone(),
                        namespace: None,
                        selectors,
                        pending,
                        events,
                        rv: current,
                        bookmarks: false,
                        bookmark_interval: config.bookmark_interval,
                        next_bookmark: Instant::now(),
                        deadline: Instant::now(),
                        done: true,
                        dropped: ctx.state.faults.watch_epoch(),
                        render,
                    }));
                }
            }
        } else {
            snapshot(&mut pending);
        }
        (events, current, render)
    };
    let now = Instant::now();
    Ok(stream_response(Watcher {
        info: ctx.info.clone(),
        namespace: ctx.path.namespace.clone(),
        selectors,
        pending,
        events,
        rv,
        bookmarks: ctx.query.allow_watch_bookmarks,
        bookmark_interval: config.bookmark_interval,
        next_bookmark: now + config.bookmark_interval,
        deadline: now + timeout,
        done: false,
        dropped: ctx.state.faults.watch_epoch(),
        render,
    }))
}

fn stream_response(watcher: Watcher) -> Response<Body> {
    let stream = futures::stream::unfold(watcher, |mut w| async move {
        w.next()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), w))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
