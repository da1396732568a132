//! How simulated workloads behave: per cluster ([`WorkloadConfig`]) and per object, by
//! annotation on the workload, its pod template or the pod itself.
//!
//! - `kubesim.flotilla.dev/behavior: stuck|crash|fail` — `stuck` pods stay Pending
//!   (ContainerCreating) for ever; `crash` pods run but crash-loop (never Ready; a pod that
//!   runs to completion fails with exit code 1); `fail` pods of run-to-completion workloads
//!   fail with exit code 1, long-running ones stay Pending in ImagePullBackOff.
//! - `kubesim.flotilla.dev/delay: 5s` — how long each pod stage takes (Go duration syntax:
//!   `250ms`, `5s`, `1m30s`).
//! - `kubesim.flotilla.dev/log` — what `pods/<name>/log` returns (every container);
//!   `kubesim.flotilla.dev/log.<container>` for one container.
//!
//! A pod without its own annotation takes its controller's (ReplicaSet, Job, StatefulSet,
//! DaemonSet), and that one's controller's (Deployment), then the cluster's default.

use std::time::Duration;

pub const BEHAVIOR: &str = "kubesim.flotilla.dev/behavior";
pub const DELAY: &str = "kubesim.flotilla.dev/delay";
pub const LOG: &str = "kubesim.flotilla.dev/log";

/// What a simulated pod does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    /// Starts, becomes Ready (and completes successfully if it runs to completion).
    #[default]
    Healthy,
    /// Never starts: Pending, containers waiting in ContainerCreating.
    Stuck,
    /// Starts and crash-loops (CrashLoopBackOff, restarts counted, never Ready); a pod
    /// that runs to completion fails.
    Crash,
    /// Fails: run-to-completion pods end Failed (exit code 1), others stay Pending with
    /// their image unpullable (ImagePullBackOff).
    Fail,
}

impl Behavior {
    /// The annotation's value; unknown words are `None`.
    pub fn parse(s: &str) -> Option<Behavior> {
        match s.trim() {
            "" | "healthy" | "ok" => Some(Behavior::Healthy),
            "stuck" => Some(Behavior::Stuck),
            "crash" => Some(Behavior::Crash),
            "fail" => Some(Behavior::Fail),
            _ => None,
        }
    }
}

/// The simulated controllers of one cluster.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Run the simulated controllers at all (off: workloads keep whatever status clients
    /// write, as on a server without a controller manager).
    pub enabled: bool,
    /// How long each pod stage takes (scheduled → running → completed) unless annotated.
    pub delay: Duration,
    /// What pods do unless annotated.
    pub behavior: Behavior,
    /// What `pods/<name>/log` returns unless annotated; `{pod}`, `{namespace}` and
    /// `{container}` are replaced.
    pub log: String,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            enabled: true,
            delay: Duration::from_millis(100),
            behavior: Behavior::Healthy,
            log: "kubesim: container {container} of pod {namespace}/{pod} started\n".to_string(),
        }
    }
}

/// Parses a Go duration (`300ms`, `1.5s`, `2m`, `1h2m3s`); `None` if it is not one.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn behaviors() {
        assert_eq!(Behavior::parse("stuck"), Some(Behavior::Stuck));
        assert_eq!(Behavior::parse("crash"), Some(Behavior::Crash));
        assert_eq!(Behavior::parse("fail"), Some(Behavior::Fail));
        assert_eq!(Behavior::parse("explode"), None);
    }
}
