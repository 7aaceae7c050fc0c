//! Writes to the session tables: tower-sessions' records
//! (`tower_sessions`) and which user each belongs to (`user_sessions`),
//! which is what logout-all, bans and account deletion end.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::users::is_banned;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// Stores a session record (tower-sessions' encoding); answers whether it
/// was stored. With `create`, a taken id answers `false` so the store picks
/// another; without it, only an existing session is updated, so a request
/// still in flight cannot bring back a session that logout-all just ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SaveSession {
    pub id: String,
    pub data: Vec<u8>,
    pub expiry_unix: i64,
    pub user_id: Option<Id>,
    pub create: bool,
    /// What the session list shows (`crate::auth::sessions`); empty when
    /// unknown. Defaults let a node of the previous version forward it.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub address: String,
}

impl Command for SaveSession {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let SaveSession {
            id,
            data,
            expiry_unix,
            user_id,
            create,
            kind,
            device,
            address,
        } = self;
        let expiry_date = expiry(expiry_unix)?;
        // A banned user's session is never stored, so a sign-in that raced
        // the ban ends at once: its cookie names no session. (Answering
        // "stored" keeps the store from trying other ids.)
        if let Some(user) = user_id
            && is_banned(conn, user)?
        {
            return Ok(create);
        }
        let stored = if create {
            conn.prepare_cached(
                "INSERT INTO tower_sessions (id, data, expiry_date) VALUES (?, ?, ?)
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![id, data, expiry_date])?
        } else {
            conn.prepare_cached("UPDATE tower_sessions SET data = ?, expiry_date = ? WHERE id = ?")?
                .execute(params![data, expiry_date, id])?
        };
        let changed = stored == 1;
        if let (true, Some(user)) = (changed, user_id) {
            let kind = if kind == "token" { "token" } else { "browser" };
            let now = now_ms();
            conn.prepare_cached(
                "INSERT INTO user_sessions
                   (session_id, user_id, created_at, expiry_date, kind, device, address, last_seen_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (session_id) DO UPDATE SET
                   expiry_date = excluded.expiry_date,
                   device = CASE WHEN excluded.device = '' THEN device ELSE excluded.device END,
                   address = CASE WHEN excluded.address = '' THEN address ELSE excluded.address END,
                   last_seen_at = excluded.last_seen_at",
            )?
            .execute(params![id, user.0, now, expiry_unix * 1000, kind, device, address, now])?;
        }
        Ok(changed)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteSession {
    pub id: String,
}

impl Command for DeleteSession {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        conn.prepare_cached("DELETE FROM tower_sessions WHERE id = ?")?
            .execute([&self.id])?;
        conn.prepare_cached("DELETE FROM user_sessions WHERE session_id = ?")?
            .execute([&self.id])?;
        Ok(())
    }
}

/// Ends every session of `user` but `keep` (a new password: every other
/// device signs in again); answers how many ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EndOtherSessions {
    pub user: Id,
    pub keep: Option<String>,
}

impl Command for EndOtherSessions {
    type Reply = usize;
    fn apply(self, conn: &Connection) -> Result<usize, CmdError> {
        end_sessions(conn, self.user, self.keep.as_deref())
    }
}

/// Ends one session of `user`, named by its secret id (the caller found it
/// by its handle among the user's own); answers whether it was there.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EndSession {
    pub user: Id,
    pub session_id: String,
}

impl Command for EndSession {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let n = conn
            .prepare_cached("DELETE FROM user_sessions WHERE session_id = ? AND user_id = ?")?
            .execute(params![self.session_id, self.user.0])?;
        if n > 0 {
            conn.prepare_cached("DELETE FROM tower_sessions WHERE id = ?")?
                .execute([&self.session_id])?;
        }
        Ok(n > 0)
    }
}

/// Deletes the sessions of `user` but `keep`, records and index rows
/// together; answers how many.
pub(crate) fn end_sessions(
    conn: &Connection,
    user: Id,
    keep: Option<&str>,
) -> Result<usize, CmdError> {
    let keep = keep.unwrap_or("");
    conn.prepare_cached(
        "DELETE FROM tower_sessions WHERE id IN
           (SELECT session_id FROM user_sessions WHERE user_id = ? AND session_id <> ?)",
    )?
    .execute(params![user.0, keep])?;
    Ok(conn
        .prepare_cached("DELETE FROM user_sessions WHERE user_id = ? AND session_id <> ?")?
        .execute(params![user.0, keep])?)
}

/// Ends every session of a user (logout-all); answers whether there was any.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EndUserSessions {
    pub user_id: Id,
}

impl Command for EndUserSessions {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        Ok(end_sessions(conn, self.user_id, None)? > 0)
    }
}

/// How long an ended session is remembered for the nodes' watchers
/// (`crate::auth::ended`): they read it within a second; an hour covers a
/// node paused or cut off for a while.
pub const SESSION_ENDS_KEPT_MS: i64 = 3600 * 1000;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteExpiredSessions;

impl Command for DeleteExpiredSessions {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        conn.prepare_cached("DELETE FROM tower_sessions WHERE expiry_date < ?")?
            .execute([store_time(OffsetDateTime::now_utc())?])?;
        conn.prepare_cached("DELETE FROM user_sessions WHERE expiry_date < ?")?
            .execute([now_ms()])?;
        conn.prepare_cached("DELETE FROM session_ends WHERE at_ms < ?")?
            .execute([now_ms() - SESSION_ENDS_KEPT_MS])?;
        Ok(())
    }
}

/// A time as tower-sessions-sqlx-store stores it (sqlx encodes
/// `OffsetDateTime` as RFC 3339 text), so that its `load` compares like
/// with like.
fn store_time(t: OffsetDateTime) -> Result<String, CmdError> {
    t.format(&Rfc3339)
        .map_err(|_| CmdError::Invalid("session expiry out of range".into()))
}

fn expiry(unix: i64) -> Result<String, CmdError> {
    let t = OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|_| CmdError::Invalid("session expiry out of range".into()))?;
    store_time(t)
}
