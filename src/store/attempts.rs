//! Writes to `auth_attempts` and `auth_addresses`: the sliding logs that
//! the sign-in and sign-up limits ([`crate::auth::limits`]) count in.
//!
//! Checking and counting is one command, run on the primary with the
//! primary's clock, so concurrent attempts cannot slip past a limit
//! together. A refused attempt leaves no row, so hammering a limit does not
//! push its end further out, and no key ever holds more rows than its limit
//! inside its window.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::{CmdError, Command};
use kith_core::ids::now_ms;

const MINUTE_MS: i64 = 60_000;

/// Every sign-in limit's window fits in this; older rows count for nothing.
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

/// The key of `account`'s failures from `addr`.
pub fn failures_key(account: &str, addr: &str) -> String {
    format!("fail:{account}@{addr}")
}

/// The key of `account`'s failures from every address together.
pub fn account_failures_key(account: &str) -> String {
    format!("fail:{account}")
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

/// Counts a sign-in or sign-up attempt against each window; answers `None`
/// when it got through, or how long until it would (milliseconds) when one
/// window has no room.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TakeAttempt {
    pub windows: Vec<Window>,
}

impl Command for TakeAttempt {
    type Reply = Option<i64>;
    fn apply(self, conn: &Connection) -> Result<Option<i64>, CmdError> {
        take_at(conn, &self.windows, now_ms())
    }
}

/// A sign-in or sign-up of `account` from `addr` succeeded.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedIn {
    pub account: String,
    pub addr: String,
    /// Take back the attempt's count against the account as a whole.
    pub undo_account: bool,
}

impl Command for SignedIn {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        signed_in_at(conn, &self.account, &self.addr, self.undo_account, now_ms())
    }
}

/// Drops attempts and addresses too old to matter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PruneAttempts;

impl Command for PruneAttempts {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        prune_at(conn, now_ms())
    }
}

/// Checks every window at `now`; if all have room, counts the attempt in
/// each. Answers how long to wait when one has no room.
fn take_at(conn: &Connection, windows: &[Window], now: i64) -> Result<Option<i64>, CmdError> {
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
    Ok(wait)
}

/// A sign-in (or sign-up) of `account` from `addr` succeeded: that
/// address's failures for the account are cleared, the attempt's own count
/// against the account as a whole is taken back (`undo_account`), and the
/// address becomes one of the account's own.
fn signed_in_at(
    conn: &Connection,
    account: &str,
    addr: &str,
    undo_account: bool,
    now: i64,
) -> Result<(), CmdError> {
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
    Ok(())
}

/// Deletes attempts outside every window and addresses not used for
/// [`KNOWN_FOR_MS`].
fn prune_at(conn: &Connection, now: i64) -> Result<(), CmdError> {
    conn.prepare_cached("DELETE FROM auth_attempts WHERE at_ms <= ?")?
        .execute([now - LONGEST_WINDOW_MS])?;
    conn.prepare_cached("DELETE FROM auth_addresses WHERE last_ms <= ?")?
        .execute([now - KNOWN_FOR_MS])?;
    Ok(())
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

    fn db() -> Connection {
        crate::db::engine::init();
        let mut conn = Connection::open_in_memory().expect("open");
        crate::db::schema::apply(&mut conn).expect("schema");
        conn
    }

    /// The windows of a sign-in by alice from `addr`, an address not yet
    /// hers: 30 per address per 5 minutes, 10 failures per account and
    /// address per 15, 100 per account per hour.
    fn windows(addr: &str) -> Vec<Window> {
        let w = |key: String, max, minutes| Window {
            key,
            max,
            window_ms: minutes * MINUTE_MS,
        };
        vec![
            w(format!("login:{addr}"), 30, 5),
            w(failures_key("alice", addr), 10, 15),
            w(account_failures_key("alice"), 100, 60),
        ]
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).expect("count")
    }

    #[test]
    fn the_writer_counts_refuses_and_forgives() {
        let conn = db();
        let windows = windows("10.0.0.1");
        let t = 1_000_000;
        for i in 0..10 {
            assert_eq!(take_at(&conn, &windows, t + i).expect("take"), None, "{i}");
        }
        // The 11th within 15 minutes waits for the first to leave.
        let wait = take_at(&conn, &windows, t + 100).expect("take");
        assert_eq!(wait, Some(15 * MINUTE_MS - 100));
        // Refused attempts are not counted.
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM auth_attempts"), 30);
        // Another address is not limited by this one's failures.
        let elsewhere = self::windows("10.0.0.2");
        assert_eq!(take_at(&conn, &elsewhere, t + 200).expect("take"), None);
        // Success there clears that address's count and takes back its own
        // count against the account; this address stays limited.
        signed_in_at(&conn, "alice", "10.0.0.2", true, t + 300).expect("signed in");
        let account_wide = count(
            &conn,
            "SELECT COUNT(*) FROM auth_attempts WHERE key = 'fail:alice'",
        );
        assert_eq!(account_wide, 10);
        assert!(take_at(&conn, &windows, t + 400).expect("take").is_some());
        // Once the window has passed, the address may try again.
        assert_eq!(
            take_at(&conn, &windows, t + 15 * MINUTE_MS + 10).expect("take"),
            None
        );
        // The sweep keeps only what is inside the longest window, and the
        // addresses in use.
        prune_at(&conn, t + LONGEST_WINDOW_MS + 20 * MINUTE_MS).expect("prune");
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM auth_attempts"), 0);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM auth_addresses"), 1);
        prune_at(&conn, t + KNOWN_FOR_MS + 301).expect("prune");
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM auth_addresses"), 0);
    }
}
