//! Waiting for a condition by polling it until a deadline, never by a fixed sleep.

use std::time::{Duration, Instant};

/// The condition did not hold before the deadline.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {what}")]
pub struct WaitError {
    /// What was awaited.
    pub what: String,
    /// How long.
    pub waited: Duration,
}

/// Polls `condition` every 20 ms until it returns `Some`, or fails after `timeout`.
pub async fn wait_until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut condition: F,
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = condition().await {
            return Ok(value);
        }
        if started.elapsed() > timeout {
            return Err(WaitError {
                what: what.to_owned(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
