//! Bounded concurrency that keeps order without head-of-line blocking.
//!
//! `StreamExt::buffered` yields in order, so a finished request waits behind a slow one
//! and keeps its slot: one slow request idles the others. Here every request runs as soon
//! as a slot frees, and the outputs are put back in order at the end.

use std::future::Future;

use futures::{StreamExt, stream};

/// Runs `futures` with at most `limit` (at least one) in flight; outputs in input order.
pub(crate) async fn in_order<T>(
    futures: impl IntoIterator<Item = impl Future<Output = T>>,
    limit: usize,
) -> Vec<T> {
    let mut outputs: Vec<(usize, T)> = stream::iter(futures.into_iter().enumerate())
        .map(|(i, future)| async move { (i, future.await) })
        .buffer_unordered(limit.max(1))
        .collect()
        .await;
    outputs.sort_unstable_by_key(|(i, _)| *i);
    outputs.into_iter().map(|(_, output)| output).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn keeps_order() {
        let delays = [30u64, 0, 10, 0, 20];
        let outputs = in_order(
            delays.iter().map(|&ms| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ms
            }),
            2,
        )
        .await;
        assert_eq!(outputs, delays);
    }
}
