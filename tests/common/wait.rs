//! Bounded waits, shared by the test binaries: every wait in a test ends,
//! by [`TIMEOUT`] at the latest.

// Each test binary includes this file and uses only part of it.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

/// The bound on any one wait: generous, since the suites run on a loaded
/// 2-core box (a cluster node starting, a transcode under load).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `fut`; fails the test, naming `what`, if it takes longer than
/// [`TIMEOUT`].
pub async fn within_for<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {TIMEOUT:?}: {what}"))
}

/// [`within_for`] for a wait that needs no name.
pub async fn within<T>(fut: impl Future<Output = T>) -> T {
    within_for("a wait", fut).await
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
