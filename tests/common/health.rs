//! Waiting for a `kith` child process to serve, shared by the test
//! binaries.

use std::time::Duration;

use crate::wait::TIMEOUT;

/// Polls `{base}/healthz` of `kith` started as `child` until it answers
/// 2xx. Fails when the process exits first or [`TIMEOUT`] passes; the
/// caller adds its log to the panic.
pub async fn until_healthy(
    base: &str,
    child: &mut tokio::process::Child,
) -> Result<(), &'static str> {
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if !matches!(child.try_wait(), Ok(None)) {
            return Err("kith exited before it was healthy");
        }
        if std::time::Instant::now() >= deadline {
            return Err("kith was not healthy in time");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
