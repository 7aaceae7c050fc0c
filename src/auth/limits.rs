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
//! (`take_at`), run on the primary with the primary's clock, so
//! concurrent attempts cannot slip past a limit together. An attempt is
//! counted as a failure *before* its password is verified, and a success
//! takes that back: a burst of parallel guesses gets exactly its limit's
//! worth. A refused attempt leaves no row, so hammering a limit does not
//! push its end further out, and no key ever holds more rows than its limit
//! inside its window. Older rows are swept (`prune_at`). On a replica the
//! check is one round trip to the primary before the argon2 work; sign-ins
//! are rare enough for that.

use std::net::IpAddr;
use std::time::Duration;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use super::Cmd;
use super::accounts;
use crate::app::AppState;
use crate::db::{CmdError, Command, Reply};
use crate::error::AppError;
use crate::ids::now_ms;

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
/// Every window above fits in this; older rows count for nothing.
pub const LONGEST_WINDOW_MS: i64 = 60 * MINUTE_MS;
/// An address stays one of the account's own this long after its last
/// sign-in.
pub const KNOWN_FOR_MS: i64 = 30 * 24 * 60 * MINUTE_MS;

/// A limit on one key, as the writer checks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub key: String,
    pub max: u32,
    pub window_ms: i64,
}

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

fn failures_key(account: &str, addr: &str) -> String {
    format!("fail:{account}@{addr}")
}

fn account_failures_key(account: &str) -> String {
    format!("fail:{account}")
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

/// With `times` the attempts inside the window (oldest first): `None` when
/// one more fits under `max`, else the milliseconds until enough have left
/// the window for it to fit.
pub fn retry_after(times: &[i64], max: u32, window_ms: i64, now: i64) -> Option<i64> {
    let max = max as usize;
    if times.len() < max {
        return None;
    }
    if max == 0 {
        return Some(window_ms);
    }
    // All but the newest `max - 1` must leave; the last of those to leave
    // decides.
    let decisive = times[times.len() - max];
    Some((decisive + window_ms - now).max(1))
}

// ---- the writer's side ------------------------------------------------------

/// Checks every window at `now`; if all have room, counts the attempt in
/// each. Answers how long to wait when one has no room.
pub(super) fn take_at(conn: &Connection, windows: &[Window], now: i64) -> Result<Reply, CmdError> {
    let mut wait: Option<i64> = None;
    for w in windows {
        let times = conn
            .prepare_cached(
                "SELECT at_ms FROM auth_attempts WHERE key = ? AND at_ms > ? ORDER BY at_ms",
            )?
            .query_map(params![w.key, now - w.window_ms], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        if let Some(ms) = retry_after(&times, w.max, w.window_ms, now) {
            wait = Some(wait.map_or(ms, |m| m.max(ms)));
        }
    }
    if wait.is_none() {
        for w in windows {
            // This key's rows that left its window: hot keys stay small
            // between sweeps.
            conn.prepare_cached("DELETE FROM auth_attempts WHERE key = ? AND at_ms <= ?")?
                .execute(params![w.key, now - w.window_ms])?;
            conn.prepare_cached("INSERT INTO auth_attempts (key, at_ms) VALUES (?, ?)")?
                .execute(params![w.key, now])?;
        }
    }
    Ok(Reply::Admission {
        retry_after_ms: wait,
    })
}

/// A sign-in (or sign-up) of `account` from `addr` succeeded: that
/// address's failures for the account are cleared, the attempt's own count
/// against the account as a whole is taken back (`undo_account`), and the
/// address becomes one of the account's own.
pub(super) fn signed_in_at(
    conn: &Connection,
    account: &str,
    addr: &str,
    undo_account: bool,
    now: i64,
) -> Result<Reply, CmdError> {
    conn.prepare_cached("DELETE FROM auth_attempts WHERE key = ?")?
        .execute([failures_key(account, addr)])?;
    if undo_account {
        conn.prepare_cached(
            "DELETE FROM auth_attempts WHERE rowid =
               (SELECT rowid FROM auth_attempts WHERE key = ? ORDER BY at_ms DESC LIMIT 1)",
        )?
        .execute([account_failures_key(account)])?;
    }
    conn.prepare_cached(
        "INSERT INTO auth_addresses (account, addr, last_ms) VALUES (?, ?, ?)
         ON CONFLICT (account, addr) DO UPDATE SET last_ms = excluded.last_ms",
    )?
    .execute(params![account, addr, now])?;
    Ok(Reply::Done)
}

/// Deletes attempts outside every window and addresses not used for
/// [`KNOWN_FOR_MS`].
pub(super) fn prune_at(conn: &Connection, now: i64) -> Result<Reply, CmdError> {
    conn.prepare_cached("DELETE FROM auth_attempts WHERE at_ms <= ?")?
        .execute([now - LONGEST_WINDOW_MS])?;
    conn.prepare_cached("DELETE FROM auth_addresses WHERE last_ms <= ?")?
        .execute([now - KNOWN_FOR_MS])?;
    Ok(Reply::Done)
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
    match state
        .writer
        .exec(Command::Auth(Cmd::TakeAttempt { windows }))
        .await?
    {
        Reply::Admission {
            retry_after_ms: None,
        } => Ok(()),
        Reply::Admission {
            retry_after_ms: Some(ms),
        } => Err(AppError::RateLimited {
            message: format!("{what}; try again later"),
            retry_after: Duration::from_millis(u64::try_from(ms).unwrap_or(1)),
        }),
        other => Err(AppError::Internal(anyhow::anyhow!(
            "counting an attempt answered {other:?}"
        ))),
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
    let cmd = Command::Auth(Cmd::SignedIn {
        account,
        addr,
        undo_account,
    });
    if let Err(e) = state.writer.exec(cmd).await {
        tracing::warn!(error = %e, "recording a sign-in for the sign-in limits");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_waits_for_the_decisive_attempt() {
        assert_eq!(retry_after(&[], 3, 1000, 5000), None);
        assert_eq!(retry_after(&[4000, 4500], 3, 1000, 5000), None);
        // Full: the oldest must leave first.
        assert_eq!(retry_after(&[4100, 4500, 4900], 3, 1000, 5000), Some(100));
        // Over (say the limit was lowered): all but one must leave for one
        // more to fit.
        assert_eq!(
            retry_after(&[4100, 4500, 4900, 4950], 2, 1000, 5000),
            Some(900)
        );
        assert_eq!(retry_after(&[4000], 1, 1000, 5000), Some(1));
        assert_eq!(retry_after(&[], 0, 1000, 5000), Some(1000));
    }

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

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        crate::db::schema::apply(&mut conn).expect("schema");
        conn
    }

    fn admitted(r: Result<Reply, CmdError>) -> Option<i64> {
        match r.expect("take") {
            Reply::Admission { retry_after_ms } => retry_after_ms,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_writer_counts_refuses_and_forgives() {
        let conn = db();
        let windows = login_windows("10.0.0.1", Some("alice"), false);
        let t = 1_000_000;
        for i in 0..10 {
            assert_eq!(admitted(take_at(&conn, &windows, t + i)), None, "{i}");
        }
        // The 11th within 15 minutes waits for the first to leave.
        let wait = admitted(take_at(&conn, &windows, t + 100));
        assert_eq!(wait, Some(15 * MINUTE_MS - 100));
        // Refused attempts are not counted.
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM auth_attempts", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 30);
        // Another address is not limited by this one's failures.
        let elsewhere = login_windows("10.0.0.2", Some("alice"), false);
        assert_eq!(admitted(take_at(&conn, &elsewhere, t + 200)), None);
        // Success there clears that address's count and takes back its own
        // count against the account; this address stays limited.
        signed_in_at(&conn, "alice", "10.0.0.2", true, t + 300).expect("signed in");
        let account_wide: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM auth_attempts WHERE key = 'fail:alice'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(account_wide, 10);
        assert!(admitted(take_at(&conn, &windows, t + 400)).is_some());
        // Once the window has passed, the address may try again.
        assert_eq!(
            admitted(take_at(&conn, &windows, t + 15 * MINUTE_MS + 10)),
            None
        );
        // The sweep keeps only what is inside the longest window, and the
        // addresses in use.
        prune_at(&conn, t + LONGEST_WINDOW_MS + 20 * MINUTE_MS).expect("prune");
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM auth_attempts", [], |r| r.get(0))
            .expect("count");
        assert_eq!(left, 0);
        let known: i64 = conn
            .query_row("SELECT COUNT(*) FROM auth_addresses", [], |r| r.get(0))
            .expect("count");
        assert_eq!(known, 1);
        prune_at(&conn, t + KNOWN_FOR_MS + 301).expect("prune");
        let known: i64 = conn
            .query_row("SELECT COUNT(*) FROM auth_addresses", [], |r| r.get(0))
            .expect("count");
        assert_eq!(known, 0);
    }
}
