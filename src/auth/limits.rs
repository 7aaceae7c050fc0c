//! Limits on signing in and signing up: against password guessing,
//! credential stuffing and mass account creation.
//!
//! # Policy
//!
//! An *address* is the client's IPv4 address, or the /64 its IPv6 address
//! is in (one host or one home usually holds a whole /64, so counting
//! single IPv6 addresses would count nothing). With `--trust-proxy` it is
//! the address the proxy in front reports (see [`crate::http::client_ip`]).
//!
//! - **30 sign-in attempts per address per 5 minutes**, right or wrong.
//!   One address trying many accounts (credential stuffing) is stopped
//!   after 30; a household or office behind one NAT address still has room,
//!   since sessions last 30 days and people sign in rarely.
//! - **10 failed sign-ins per account per address per 15 minutes.** The
//!   guesser at that address is stopped, while the account's owner signs in
//!   from anywhere else as usual: counting failures per account alone would
//!   let anyone lock any user out by guessing badly on purpose. A successful
//!   sign-in from the address clears its count, so an owner's earlier typos
//!   do not linger.
//! - **100 failed sign-ins per account per hour from all addresses
//!   together**, which caps guessing spread over many addresses (OWASP ASVS
//!   asks for no more than 100 failed attempts per hour on one account).
//!   While it is tripped, addresses the account signed up or signed in from
//!   in the last 30 days are exempt from it, so a botnet cannot shut the
//!   owner out of the places they use. A success does not clear this count
//!   (each sign-in of the owner would hand the attacker a fresh budget); it
//!   only takes back its own attempt.
//! - **10 sign-ups per address per hour**: accounts are the cheapest thing
//!   to abuse, and each costs an argon2 hash.
//!
//! An attempt over a limit is answered 429 with `Retry-After` (seconds until
//! the oldest attempt that keeps it over leaves its window), before any
//! password is hashed or verified. Unknown usernames are counted exactly
//! like existing ones, so the limits tell nobody which names exist; a name
//! that cannot be a username is counted against its address only.
//!
//! # Mechanism
//!
//! The counts are rows of `auth_attempts` (a sliding log per key), so they
//! hold across every node; checking and counting is one writer command
//! ([`crate::store::attempts::TakeAttempt`]), run on the primary with the primary's clock, so
//! concurrent attempts cannot slip past a limit together. An attempt is
//! counted as a failure *before* its password is verified, and a success
//! takes that back: a burst of parallel guesses gets exactly its limit's
//! worth. A refused attempt leaves no row, so hammering a limit does not
//! push its end further out, and no key ever holds more rows than its limit
//! inside its window. Older rows are swept (`PruneAttempts`). On a replica the
//! check is one round trip to the primary before the argon2 work; sign-ins
//! are rare enough for that.

use std::net::IpAddr;
use std::time::Duration;

use sqlx::SqlitePool;

use super::accounts;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::attempts::{
    KNOWN_FOR_MS, SignedIn, TakeAttempt, Window, account_failures_key, failures_key,
};
use kith_core::ids::now_ms;

const MINUTE_MS: i64 = 60_000;

/// At most `max` attempts in any `window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_ms: i64,
}

pub const LOGINS_PER_ADDR: Limit = Limit {
    max: 30,
    window_ms: 5 * MINUTE_MS,
};
pub const FAILURES_PER_ACCOUNT_AND_ADDR: Limit = Limit {
    max: 10,
    window_ms: 15 * MINUTE_MS,
};
pub const FAILURES_PER_ACCOUNT: Limit = Limit {
    max: 100,
    window_ms: 60 * MINUTE_MS,
};
pub const SIGNUPS_PER_ADDR: Limit = Limit {
    max: 10,
    window_ms: 60 * MINUTE_MS,
};

impl Limit {
    fn on(self, key: String) -> Window {
        Window {
            key,
            max: self.max,
            window_ms: self.window_ms,
        }
    }
}

/// The address as the limits count it: IPv4 as is (also when it arrives
/// IPv4-mapped on an IPv6 socket), IPv6 as its /64.
pub fn addr_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The account a sign-in names, as the limits count it (usernames are
/// unique regardless of case); `None` for what cannot be a username, which
/// also keeps arbitrary client text out of the keys.
pub fn account_key(username: &str) -> Option<String> {
    accounts::check_username(username)
        .ok()
        .map(|()| username.to_ascii_lowercase())
}

/// The limits a sign-in attempt from `addr` naming `account` is checked
/// against; `known`: the address is one of the account's own.
pub fn login_windows(addr: &str, account: Option<&str>, known: bool) -> Vec<Window> {
    let mut windows = vec![LOGINS_PER_ADDR.on(format!("login:{addr}"))];
    if let Some(account) = account {
        windows.push(FAILURES_PER_ACCOUNT_AND_ADDR.on(failures_key(account, addr)));
        if !known {
            windows.push(FAILURES_PER_ACCOUNT.on(account_failures_key(account)));
        }
    }
    windows
}

pub fn signup_windows(addr: &str) -> Vec<Window> {
    vec![SIGNUPS_PER_ADDR.on(format!("signup:{addr}"))]
}

// ---- the handlers' side -----------------------------------------------------

/// Whether `addr` is one of `account`'s own addresses.
async fn is_known(pool: &SqlitePool, account: &str, addr: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM auth_addresses WHERE account = ? AND addr = ? AND last_ms > ?",
    )
    .bind(account)
    .bind(addr)
    .bind(now_ms() - KNOWN_FOR_MS)
    .fetch_one(pool)
    .await?;
    Ok(n > 0)
}

/// Counts an attempt against `windows`, or refuses it with 429.
async fn take(state: &AppState, windows: Vec<Window>, what: &str) -> Result<(), AppError> {
    match state.writer.run(TakeAttempt { windows }).await? {
        None => Ok(()),
        Some(ms) => Err(AppError::RateLimited {
            message: format!("{what}; try again later"),
            retry_after: Duration::from_millis(u64::try_from(ms).unwrap_or(1)),
        }),
    }
}

/// A sign-in attempt let through the limits, counted as a failure until
/// [`Admitted::succeeded`] says otherwise.
#[must_use = "a successful sign-in must say so"]
pub struct Admitted(Option<Counted>);

struct Counted {
    account: String,
    addr: String,
    /// Whether the attempt counted against the account as a whole.
    account_wide: bool,
}

/// Lets a sign-in attempt from `ip` naming `username` through the limits,
/// or refuses it (429) before any password work.
pub async fn admit_login(
    state: &AppState,
    ip: IpAddr,
    username: &str,
) -> Result<Admitted, AppError> {
    if !state.config.limits.auth {
        return Ok(Admitted(None));
    }
    let addr = addr_key(ip);
    let account = account_key(username);
    let known = match &account {
        Some(a) => is_known(&state.read, a, &addr).await?,
        None => false,
    };
    take(
        state,
        login_windows(&addr, account.as_deref(), known),
        "too many sign-in attempts",
    )
    .await?;
    Ok(Admitted(account.map(|account| Counted {
        account,
        addr,
        account_wide: !known,
    })))
}

impl Admitted {
    /// The password was right.
    pub async fn succeeded(self, state: &AppState) {
        let Some(c) = self.0 else { return };
        record_success(state, c.account, c.addr, c.account_wide).await;
    }
}

/// Lets a sign-up from `ip` through the limits, or refuses it (429) before
/// any hashing.
pub async fn admit_signup(state: &AppState, ip: IpAddr) -> Result<(), AppError> {
    if !state.config.limits.auth {
        return Ok(());
    }
    take(
        state,
        signup_windows(&addr_key(ip)),
        "too many sign-ups from this address",
    )
    .await
}

/// A new account was made from `ip`: that address is one of its own.
pub async fn signed_up(state: &AppState, ip: IpAddr, username: &str) {
    if !state.config.limits.auth {
        return;
    }
    if let Some(account) = account_key(username) {
        record_success(state, account, addr_key(ip), false).await;
    }
}

/// The sign-in itself has happened: failing to record it for the limits is
/// logged, not shown to the user.
async fn record_success(state: &AppState, account: String, addr: String, undo_account: bool) {
    let cmd = SignedIn {
        account,
        addr,
        undo_account,
    };
    if let Err(e) = state.writer.run(cmd).await {
        tracing::warn!(error = %e, "recording a sign-in for the sign-in limits");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_counted_by_host() {
        assert_eq!(addr_key("203.0.113.7".parse().expect("ip")), "203.0.113.7");
        assert_eq!(
            addr_key("::ffff:203.0.113.7".parse().expect("ip")),
            "203.0.113.7"
        );
        let a = addr_key("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = addr_key("2001:db8:1:2:bbbb::9".parse().expect("ip"));
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b);
        assert_ne!(a, addr_key("2001:db8:1:3::1".parse().expect("ip")));
    }

    #[test]
    fn accounts_are_keyed_by_lower_case_name() {
        assert_eq!(account_key("Alice").as_deref(), Some("alice"));
        assert_eq!(account_key("x"), None);
        assert_eq!(account_key(&"a".repeat(500)), None);
        assert_eq!(account_key("a@b"), None);
        let keys = |known| -> Vec<String> {
            login_windows("10.0.0.1", Some("alice"), known)
                .into_iter()
                .map(|w| w.key)
                .collect()
        };
        assert_eq!(
            keys(false),
            ["login:10.0.0.1", "fail:alice@10.0.0.1", "fail:alice"]
        );
        assert_eq!(keys(true), ["login:10.0.0.1", "fail:alice@10.0.0.1"]);
        assert_eq!(login_windows("10.0.0.1", None, false).len(), 1);
    }
}
