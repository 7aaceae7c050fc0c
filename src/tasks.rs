//! The node's background tasks, and the one signal that stops them.
//!
//! Every task a node starts (job workers, sweepers, watchers, the
//! cluster's loops, a notification being stored) is spawned here, so that
//! shutdown can wait for all of them before the writer flushes: none is
//! left holding a write that would be lost. [`Tasks::stop`] is the one
//! signal; each loop ends at its next wait once it is given.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;

/// Cheap to clone: every clone spawns into, and stops, the same set.
#[derive(Clone, Default)]
pub struct Tasks {
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Tasks {
    /// Runs `task` as one of the node's tasks.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Completes once the node has begun to stop.
    pub fn stopping(&self) -> WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }

    /// Whether the node has begun to stop.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Tells every task to stop.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits, at most `limit`, for every task to end (no more may start);
    /// false when some did not in time.
    pub async fn wait(&self, limit: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_ends_the_loops_and_wait_sees_them_end() {
        let tasks = Tasks::default();
        for _ in 0..3 {
            let t = tasks.clone();
            tasks.spawn(async move { t.stopping().await });
        }
        assert!(!tasks.wait(Duration::from_millis(50)).await, "ended early");
        tasks.stop();
        assert!(tasks.is_stopping());
        assert!(tasks.wait(Duration::from_secs(10)).await);
    }
}
