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

use clap::Args;

pub use kith_core::bucket::{DEFAULT_WRITES, PerUser, Rate, SENDS, TokenBucket};

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

#[cfg(test)]
mod tests {
    use super::*;

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
