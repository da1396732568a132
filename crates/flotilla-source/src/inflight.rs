//! Sharing in-flight work by key: the first caller for a key starts the future, later
//! callers for the same key await the same result until it completes. Once complete the
//! entry is dropped, so the next call starts fresh (the next interval fetches again).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

/// A map of shared futures by key.
pub(crate) struct InFlight<K, V: Clone> {
    running: Mutex<HashMap<K, Shared<BoxFuture<'static, V>>>>,
}

impl<K, V: Clone> std::fmt::Debug for InFlight<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight").finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V: Clone + Send + Sync + 'static> InFlight<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Awaits the running future for `key`, or starts `start()` if there is none.
    pub(crate) async fn run(&self, key: K, start: impl FnOnce() -> BoxFuture<'static, V>) -> V {
        let shared = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running
                .entry(key.clone())
                .or_insert_with(|| start().shared())
                .clone()
        };
        let value = shared.clone().await;
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        // Only remove our own entry: a new run may already have replaced it.
        if running.get(&key).is_some_and(|s| s.ptr_eq(&shared)) {
            running.remove(&key);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_later_calls_rerun() {
        let inflight = Arc::new(InFlight::<&str, usize>::new());
        let started = Arc::new(AtomicUsize::new(0));
        let start = |started: Arc<AtomicUsize>| {
            move || -> BoxFuture<'static, usize> {
                Box::pin(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    started.fetch_add(1, Ordering::SeqCst) + 1
                })
            }
        };
        let (a, b) = tokio::join!(
            inflight.run("k", start(started.clone())),
            inflight.run("k", start(started.clone()))
        );
        assert_eq!((a, b), (1, 1));
        assert_eq!(inflight.run("k", start(started.clone())).await, 2);
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }
}
