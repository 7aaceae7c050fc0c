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
            conn.prepare_cached(
                "INSERT INTO user_sessions (session_id, user_id, created_at, expiry_date)
                 VALUES (?, ?, ?, ?)
                 ON CONFLICT (session_id) DO UPDATE SET expiry_date = excluded.expiry_date",
            )?
            .execute(params![id, user.0, now_ms(), expiry_unix * 1000])?;
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

/// Ends every session of a user (logout-all); answers whether there was any.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EndUserSessions {
    pub user_id: Id,
}

impl Command for EndUserSessions {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        conn.prepare_cached(
            "DELETE FROM tower_sessions WHERE id IN
               (SELECT session_id FROM user_sessions WHERE user_id = ?)",
        )?
        .execute([self.user_id.0])?;
        let ended = conn
            .prepare_cached("DELETE FROM user_sessions WHERE user_id = ?")?
            .execute([self.user_id.0])?;
        Ok(ended > 0)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteExpiredSessions;

impl Command for DeleteExpiredSessions {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        conn.prepare_cached("DELETE FROM tower_sessions WHERE expiry_date < ?")?
            .execute([store_time(OffsetDateTime::now_utc())?])?;
        conn.prepare_cached("DELETE FROM user_sessions WHERE expiry_date < ?")?
            .execute([now_ms()])?;
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
