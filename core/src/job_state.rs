//! Job states and their transitions, and the retry backoff: pure logic.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Running,
    Succeeded,
    /// An attempt failed; waiting for its retry.
    Failed,
    /// Out of attempts.
    Dead,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Dead => "dead",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "queued" => Status::Queued,
            "running" => Status::Running,
            "succeeded" => Status::Succeeded,
            "failed" => Status::Failed,
            "dead" => Status::Dead,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }
}

/// What happens to a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A worker takes it (due, or its lease ran out).
    Claim,
    Succeed,
    /// The attempt failed; `retryable` false means do not try again.
    Fail {
        retryable: bool,
    },
    Cancel,
    /// Its worker's lease ran out while it was running.
    LeaseExpired,
    /// An operator asks for it to run again.
    Retry,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a {from:?} job cannot {event:?}")]
pub struct Invalid {
    pub from: Status,
    pub event: Event,
}

/// The next status of a job in `from` with `attempts` made (counting the
/// current one when running) out of `max_attempts`.
pub fn next(
    from: Status,
    event: Event,
    attempts: u32,
    max_attempts: u32,
) -> Result<Status, Invalid> {
    use Status::*;
    let out_of_attempts = attempts >= max_attempts;
    Ok(match (from, event) {
        (Queued | Failed, Event::Claim) => Running,
        (Running, Event::Succeed) => Succeeded,
        (Running, Event::Fail { retryable: true }) if !out_of_attempts => Failed,
        (Running, Event::Fail { .. }) => Dead,
        (Running, Event::LeaseExpired) if !out_of_attempts => Queued,
        (Running, Event::LeaseExpired) => Dead,
        (Queued | Running | Failed, Event::Cancel) => Cancelled,
        (Failed | Dead | Cancelled, Event::Retry) => Queued,
        (from, event) => return Err(Invalid { from, event }),
    })
}

/// The delay before retry number `attempt` (1 for the first retry):
/// `base · 2^(attempt-1)`, capped, then scaled by a jitter factor in
/// [0.5, 1.0) so that jobs failing together do not retry together.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(cap);
    capped.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn a_job_runs_succeeds_or_retries_then_dies() {
        assert_eq!(next(Queued, Event::Claim, 0, 3), Ok(Running));
        assert_eq!(next(Running, Event::Succeed, 1, 3), Ok(Succeeded));
        assert_eq!(
            next(Running, Event::Fail { retryable: true }, 1, 3),
            Ok(Failed)
        );
        assert_eq!(next(Failed, Event::Claim, 1, 3), Ok(Running));
        assert_eq!(
            next(Running, Event::Fail { retryable: true }, 3, 3),
            Ok(Dead)
        );
        assert_eq!(
            next(Running, Event::Fail { retryable: false }, 1, 3),
            Ok(Dead)
        );
    }

    #[test]
    fn a_lost_lease_puts_the_job_back_unless_it_was_the_last_attempt() {
        assert_eq!(next(Running, Event::LeaseExpired, 1, 3), Ok(Queued));
        assert_eq!(next(Running, Event::LeaseExpired, 3, 3), Ok(Dead));
    }

    #[test]
    fn cancel_and_retry() {
        for s in [Queued, Running, Failed] {
            assert_eq!(next(s, Event::Cancel, 1, 3), Ok(Cancelled));
        }
        for s in [Succeeded, Dead, Cancelled] {
            assert!(next(s, Event::Cancel, 1, 3).is_err());
        }
        for s in [Failed, Dead, Cancelled] {
            assert_eq!(next(s, Event::Retry, 3, 3), Ok(Queued));
        }
        assert!(next(Succeeded, Event::Retry, 1, 3).is_err());
        assert!(next(Running, Event::Retry, 1, 3).is_err());
        assert!(next(Succeeded, Event::Claim, 1, 3).is_err());
        assert!(next(Queued, Event::Succeed, 0, 3).is_err());
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(1, base, cap, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(2, base, cap, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(4, base, cap, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(30, base, cap, 1.0), cap);
        assert_eq!(backoff(1, base, cap, 0.0), Duration::from_millis(500));
        let a = backoff(3, base, cap, 0.1);
        let b = backoff(3, base, cap, 0.9);
        assert!(a < b && b <= Duration::from_secs(4) && a >= Duration::from_secs(2));
    }
}
