//! Fault injection: make one cluster slow, throttled, failing, or drop its watches, so
//! clients' retry and resync paths can be tested.
//!
//! Rules match requests by method and path substring and either delay them or answer
//! with a Status (429 comes with `Retry-After`); a rule can fire a limited number of times.
//! A rule can also hit only a share of the matching requests (`rate`, an error rate).
//! Dropping watches ends every open watch stream at once, as an API server restart or a
//! load balancer does; clients resume from their last resourceVersion. Compaction,
//! partitions and restarts (state kept or wiped) are on [`crate::ClusterHandle`].

use crate::status::ApiError;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// What a matching request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// This long a delay before the request is handled normally.
    Latency(Duration),
    /// An error Status with this code instead of handling; `retry_after_seconds` goes into
    /// the `Retry-After` header and `details.retryAfterSeconds` (429 and 503 use it).
    Status {
        code: u16,
        retry_after_seconds: Option<u32>,
    },
}

/// One injection rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// `GET`, `PATCH`, …; `None` matches every method.
    pub method: Option<String>,
    /// A substring of the path; `None` matches every path.
    pub path_contains: Option<String>,
    pub action: FaultAction,
    /// How many requests it applies to; `None` until cleared.
    pub times: Option<usize>,
    /// The probability (0–1) that a matching request is hit; `None` hits every one. Counted
    /// rules count only the requests they hit.
    pub rate: Option<f64>,
}

impl Fault {
    /// Every request answers `code` (e.g. 500, 503).
    pub fn status(code: u16) -> Self {
        Fault {
            method: None,
            path_contains: None,
            action: FaultAction::Status {
                code,
                retry_after_seconds: None,
            },
            times: None,
            rate: None,
        }
    }

    /// Every request answers 429 TooManyRequests with `Retry-After: seconds`.
    pub fn throttle(seconds: u32) -> Self {
        Fault {
            action: FaultAction::Status {
                code: 429,
                retry_after_seconds: Some(seconds),
            },
            ..Fault::status(429)
        }
    }

    /// Every request waits `delay` first.
    pub fn latency(delay: Duration) -> Self {
        Fault {
            action: FaultAction::Latency(delay),
            ..Fault::status(0)
        }
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    pub fn path_contains(mut self, part: &str) -> Self {
        self.path_contains = Some(part.to_string());
        self
    }

    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    /// Hits each matching request with probability `rate` (an error rate, a share of slow
    /// requests).
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = Some(rate.clamp(0.0, 1.0));
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// A request's fate.
#[derive(Debug, Default)]
pub struct Verdict {
    pub delay: Option<Duration>,
    /// The error to answer with, and its Retry-After.
    pub error: Option<(ApiError, Option<u32>)>,
}

/// One cluster's faults.
#[derive(Debug)]
pub struct Faults {
    rules: Mutex<Vec<Fault>>,
    watch_epoch: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rules: Mutex::new(Vec::new()),
            watch_epoch: watch::channel(0).0,
        }
    }
}

fn error_for(code: u16, retry_after: Option<u32>) -> ApiError {
    let (reason, message) = match code {
        401 => ("Unauthorized", "Unauthorized"),
        403 => ("Forbidden", "forbidden: injected by kubesim"),
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        500 => (
            "InternalError",
            "an error on the server (\"injected by kubesim\") has prevented the request from succeeding",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        ),
        _ => ("InternalError", "injected failure"),
    };
    let mut e = ApiError::new(code, reason, message);
    e.details.retry_after_seconds = retry_after;
    e
}

/// True with probability `p`.
fn chance(p: f64) -> bool {
    // The first six bytes of a v4 UUID are random (its version and variant bits come later).
    let b = uuid::Uuid::new_v4().into_bytes();
    let bits = b[..6].iter().fold(0u64, |acc, x| acc << 8 | u64::from(*x));
    (bits as f64) / ((1u64 << 48) as f64) < p
}

impl Faults {
    pub fn add(&self, fault: Fault) {
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fault);
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Applies the rules to a request (consuming counted ones).
    pub fn check(&self, method: &str, path: &str) -> Verdict {
        let mut verdict = Verdict::default();
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        for rule in rules.iter_mut().filter(|r| r.matches(method, path)) {
            if rule.times == Some(0) || rule.rate.is_some_and(|r| !chance(r)) {
                continue;
            }
            if let Some(n) = rule.times.as_mut() {
                *n -= 1;
            }
            match &rule.action {
                FaultAction::Latency(d) => {
                    verdict.delay = Some(verdict.delay.unwrap_or_default() + *d);
                }
                FaultAction::Status {
                    code,
                    retry_after_seconds,
                } if verdict.error.is_none() => {
                    verdict.error =
                        Some((error_for(*code, *retry_after_seconds), *retry_after_seconds));
                }
                FaultAction::Status { .. } => {}
            }
        }
        rules.retain(|r| r.times != Some(0));
        verdict
    }

    /// Ends every open watch stream.
    pub fn drop_watches(&self) {
        self.watch_epoch.send_modify(|e| *e += 1);
    }

    /// For a watch: changes when watches are dropped.
    pub fn watch_epoch(&self) -> watch::Receiver<u64> {
        self.watch_epoch.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_expire_and_match_by_method_and_path() {
        let f = Faults::default();
        f.add(
            Fault::throttle(2)
                .method("patch")
                .path_contains("/configmaps/")
                .times(1),
        );
        assert!(
            f.check("GET", "/api/v1/namespaces/d/configmaps/a")
                .error
                .is_none()
        );
        let v = f.check("PATCH", "/api/v1/namespaces/d/configmaps/a");
        let (e, retry) = v.error.unwrap();
        assert_eq!((e.code, e.reason, retry), (429, "TooManyRequests", Some(2)));
        assert!(
            f.check("PATCH", "/api/v1/namespaces/d/configmaps/a")
                .error
                .is_none()
        );
    }

    #[test]
    fn injected_statuses_carry_the_reason_clients_test_for() {
        let f = Faults::default();
        for (code, reason) in [
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
        ] {
            f.add(Fault::status(code).times(1));
            let (e, _) = f.check("GET", "/api/v1/configmaps").error.unwrap();
            assert_eq!((e.code, e.reason), (code, reason));
        }
    }

    #[test]
    fn a_rate_hits_about_that_share() {
        let f = Faults::default();
        f.add(Fault::status(503).rate(0.3));
        let hits = (0..4000)
            .filter(|_| f.check("GET", "/api").error.is_some())
            .count();
        // 0.3 of 4000 = 1200; six standard deviations (about 29 each) either side.
        assert!((1026..=1374).contains(&hits), "{hits}");
        f.clear();
        f.add(Fault::status(503).rate(0.0));
        assert!((0..100).all(|_| f.check("GET", "/api").error.is_none()));
    }
}
