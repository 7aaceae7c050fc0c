//! Rate limits kept in this node's memory, and the settings of every abuse
//! limit.
//!
//! - **Writes over HTTP**: every POST, PUT, PATCH and DELETE of a signed-in
//!   user outside `/api/auth/` (posts, comments, likes, friend requests,
//!   conversations, uploads, …) takes a token from that user's bucket: by
//!   default a burst of 60, then 10 a second. Past it: 429 with
//!   `Retry-After`.
//! - **Realtime sends**: a bucket per connection (a burst of 30, then 10 a
//!   second, always), and one per user shared by all of that user's
//!   connections on the node, at the same rate, so that opening more
//!   sockets buys no more sends.
//!
//! `--write-burst 0` turns the per-user limits off (load generators that
//! are many users on few addresses); each connection keeps its own send
//! limit, which is part of the realtime protocol (docs/protocol.md).
//!
//! These limits protect capacity (the writer, fan-out, storage), not
//! secrets, so a bucket per node is enough: a user's requests reach one
//! node or a few (Fly.io sends each client to its nearest region), so at
//! worst the limit is multiplied by the nodes they reach, and no request
//! pays a database round trip for it. The sign-in and sign-up limits guard
//! against guessing, which must stay bounded however an attacker spreads
//! requests over nodes: they live in the database ([`crate::auth::limits`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;

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

/// Where a client's address comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TrustProxy {
    /// The TCP peer is the client.
    #[default]
    None,
    /// Fly.io's proxy: its `Fly-Client-IP` header.
    Fly,
    /// A reverse proxy that appends the client to `X-Forwarded-For`: the
    /// header's last entry.
    XForwardedFor,
}

/// The abuse limits' flags (part of `kith serve`).
#[derive(Clone, Debug, Args)]
pub struct LimitArgs {
    /// Turn off the sign-in and sign-up limits per address and per account.
    /// For load tests only: they are what stops password guessing.
    #[arg(long, env = "KITH_NO_AUTH_LIMITS")]
    pub no_auth_limits: bool,
    /// Writes a signed-in user may make at once before --write-rate
    /// applies, on each node. 0 turns off the per-user limits on writes and
    /// on realtime sends (each connection keeps its own send limit).
    #[arg(long, env = "KITH_WRITE_BURST", default_value_t = DEFAULT_WRITES.burst)]
    pub write_burst: u32,
    /// Writes per second per user after the burst, on each node.
    #[arg(long, env = "KITH_WRITE_RATE", default_value_t = DEFAULT_WRITES.per_sec,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub write_rate: u32,
    /// Where a client's address (for the sign-in limits) comes from: `none`
    /// (the TCP peer), `fly` (Fly-Client-IP, set by Fly.io's proxy) or
    /// `x-forwarded-for` (its last entry, as a reverse proxy in front
    /// appends it). Name only a proxy that is really in front: anyone can
    /// send these headers.
    #[arg(long, env = "KITH_TRUST_PROXY", value_enum, default_value_t = TrustProxy::None)]
    pub trust_proxy: TrustProxy,
}

/// The abuse limits a server runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Sign-in and sign-up limits ([`crate::auth::limits`]).
    pub auth: bool,
    /// HTTP writes per user per node; also turns on the per-user limit on
    /// realtime sends. `None`: no per-user limits.
    pub writes: Option<Rate>,
    pub trust_proxy: TrustProxy,
}

/// The production defaults.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            auth: true,
            writes: Some(DEFAULT_WRITES),
            trust_proxy: TrustProxy::None,
        }
    }
}

impl Limits {
    /// No sign-in, sign-up or write limits: for load generators and tests
    /// that act as hundreds of users from one address.
    pub fn off() -> Self {
        Limits {
            auth: false,
            writes: None,
            trust_proxy: TrustProxy::None,
        }
    }
}

impl From<LimitArgs> for Limits {
    fn from(a: LimitArgs) -> Self {
        Limits {
            auth: !a.no_auth_limits,
            writes: (a.write_burst > 0).then_some(Rate {
                burst: a.write_burst,
                per_sec: a.write_rate.max(1),
            }),
            trust_proxy: a.trust_proxy,
        }
    }
}

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

    #[test]
    fn flags_make_limits() {
        let a = LimitArgs {
            no_auth_limits: false,
            write_burst: 60,
            write_rate: 10,
            trust_proxy: TrustProxy::None,
        };
        assert_eq!(Limits::from(a.clone()), Limits::default());
        let off = LimitArgs {
            no_auth_limits: true,
            write_burst: 0,
            ..a
        };
        assert_eq!(Limits::from(off), Limits::off());
    }
}
