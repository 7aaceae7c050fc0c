//! Token buckets: a burst at once, then a steady rate; one per key, kept
//! in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::Unpoisoned;

/// A token bucket's shape: `burst` at once, then `per_sec` on average.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub per_sec: u32,
}

/// HTTP writes per user, by default.
pub const DEFAULT_WRITES: Rate = Rate {
    burst: 60,
    per_sec: 10,
};
/// Realtime sends per connection, and per user across their connections
/// (docs/protocol.md).
pub const SENDS: Rate = Rate {
    burst: 30,
    per_sec: 10,
};

/// A token bucket.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: Rate,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate, now: Instant) -> Self {
        TokenBucket {
            rate,
            tokens: f64::from(rate.burst),
            last: now,
        }
    }

    fn per_sec(&self) -> f64 {
        f64::from(self.rate.per_sec.max(1))
    }

    fn tokens_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + elapsed * self.per_sec()).min(f64::from(self.rate.burst))
    }

    /// Takes a token at `now`; when there is none, how long until there is.
    pub fn take_at(&mut self, now: Instant) -> Result<(), Duration> {
        self.tokens = self.tokens_at(now);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_sec(),
            ))
        }
    }

    /// Whether the bucket has refilled: then it is worth no more than a new
    /// one, and can be dropped.
    pub fn is_full_at(&self, now: Instant) -> bool {
        self.tokens_at(now) >= f64::from(self.rate.burst)
    }
}

/// The map is swept no more often than at this size.
const MIN_SWEEP: usize = 1024;

/// A token bucket per user.
///
/// One mutex over the map: it is held for a hash lookup and a little
/// arithmetic, never across an await, which costs far less than the writes
/// it guards. A bucket that has refilled is worth no more than a missing
/// one, so whenever the map has doubled since the last sweep, full buckets
/// are dropped: it holds about the users active within the last refill
/// time, and the sweeps cost O(1) per call on average.
#[derive(Debug)]
pub struct PerUser {
    rate: Rate,
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    map: HashMap<i64, TokenBucket>,
    sweep_at: usize,
}

impl PerUser {
    pub fn new(rate: Rate) -> Self {
        PerUser {
            rate,
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        }
    }

    /// Takes one of `user`'s tokens; when there is none, how long until
    /// there is.
    pub fn take(&self, user: i64) -> Result<(), Duration> {
        self.take_at(user, Instant::now())
    }

    pub fn take_at(&self, user: i64, now: Instant) -> Result<(), Duration> {
        let mut b = self.buckets.write_lock();
        if b.map.len() >= b.sweep_at {
            b.map.retain(|_, bucket| !bucket.is_full_at(now));
            b.sweep_at = (b.map.len() * 2).max(MIN_SWEEP);
        }
        let rate = self.rate;
        b.map
            .entry(user)
            .or_insert_with(|| TokenBucket::new(rate, now))
            .take_at(now)
    }

    /// Users with a bucket (for tests).
    pub fn len(&self) -> usize {
        self.buckets.write_lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Rate = Rate {
        burst: 3,
        per_sec: 10,
    };

    #[test]
    fn a_bucket_refills_and_says_how_long_to_wait() {
        let t = Instant::now();
        let mut b = TokenBucket::new(R, t);
        assert!(b.take_at(t).is_ok() && b.take_at(t).is_ok() && b.take_at(t).is_ok());
        let wait = b.take_at(t).expect_err("empty");
        assert!(wait > Duration::from_millis(99) && wait <= Duration::from_millis(100));
        assert!(b.take_at(t + Duration::from_millis(150)).is_ok());
        assert!(b.take_at(t + Duration::from_millis(150)).is_err());
        assert!(!b.is_full_at(t + Duration::from_millis(200)));
        assert!(b.is_full_at(t + Duration::from_secs(1)));
    }

    #[test]
    fn buckets_are_per_user_and_swept_when_full() {
        let users = PerUser::new(R);
        let t = Instant::now();
        for _ in 0..3 {
            assert!(users.take_at(1, t).is_ok());
        }
        assert!(users.take_at(1, t).is_err());
        assert!(
            users.take_at(2, t).is_ok(),
            "another user has a bucket of their own"
        );
        for u in 3..=MIN_SWEEP as i64 {
            let _ = users.take_at(u, t);
        }
        assert_eq!(users.len(), MIN_SWEEP);
        // One second later every bucket is full again: the sweep drops
        // them all, and user 1 starts afresh.
        let later = t + Duration::from_secs(1);
        assert!(users.take_at(1, later).is_ok());
        assert_eq!(users.len(), 1);
    }
}
