//! Writes to the accounts and session tables.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::limits::{self, Window};
use crate::db::{CmdError, Reply};
use crate::ids::{Id, now_ms};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Cmd {
    CreateUser {
        id: Id,
        username: String,
        display_name: String,
        password_hash: String,
    },
    /// Stores a session record (tower-sessions' encoding). With `create`, a
    /// taken id answers `Changed(false)` so the store picks another; without
    /// it, only an existing session is updated, so a request still in
    /// flight cannot bring back a session that logout-all just ended.
    SaveSession {
        id: String,
        data: Vec<u8>,
        expiry_unix: i64,
        user_id: Option<Id>,
        create: bool,
    },
    DeleteSession {
        id: String,
    },
    /// Ends every session of a user (logout-all).
    EndUserSessions {
        user_id: Id,
    },
    DeleteExpiredSessions,
    /// Bans a user, ending every session of theirs in the same transaction
    /// (`banned`), or lifts the ban. Each ban's `banned_at` is later than
    /// every other's, so that every node's ban watcher ([`crate::admin`])
    /// sees it past the last one it saw.
    Ban {
        user: Id,
        banned: bool,
    },
    /// Grants or revokes the right to remove anyone's posts and comments.
    SetAdmin {
        user: Id,
        admin: bool,
    },
    /// Counts a sign-in or sign-up attempt against each window, or answers
    /// how long to wait when one has no room ([`super::limits`]).
    TakeAttempt {
        windows: Vec<Window>,
    },
    /// A sign-in or sign-up of `account` from `addr` succeeded.
    SignedIn {
        account: String,
        addr: String,
        /// Take back the attempt's count against the account as a whole.
        undo_account: bool,
    },
    /// Drops attempts and addresses too old to matter.
    PruneAttempts,
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

fn is_banned(conn: &Connection, user: Id) -> Result<bool, CmdError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ? AND banned_at IS NOT NULL")?
        .exists([user.0])?)
}

/// Why an update of `user` changed nothing: there is no such user
/// (NotFound), or it was in that state already (Conflict, `why`).
fn unchanged(conn: &Connection, user: Id, why: &str) -> Result<CmdError, CmdError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?")?
        .exists([user.0])?;
    Ok(if exists {
        CmdError::Conflict(why.into())
    } else {
        CmdError::NotFound("no such user".into())
    })
}

impl Cmd {
    pub fn apply(self, conn: &Connection) -> Result<Reply, CmdError> {
        match self {
            Cmd::CreateUser {
                id,
                username,
                display_name,
                password_hash,
            } => {
                let res = conn
                    .prepare_cached(
                        "INSERT INTO users (id, username, display_name, password_hash, created_at)
                         VALUES (?, ?, ?, ?, ?)",
                    )?
                    .execute(params![
                        id.0,
                        username,
                        display_name,
                        password_hash,
                        now_ms()
                    ]);
                match res.map_err(CmdError::from) {
                    Ok(_) => Ok(Reply::Id(id)),
                    Err(CmdError::Conflict(_)) => {
                        Err(CmdError::Conflict("that username is taken".into()))
                    }
                    Err(e) => Err(e),
                }
            }
            Cmd::SaveSession {
                id,
                data,
                expiry_unix,
                user_id,
                create,
            } => {
                let expiry_date = expiry(expiry_unix)?;
                // A banned user's session is never stored, so a sign-in
                // that raced the ban ends at once: its cookie names no
                // session. (Answering "stored" keeps the store from trying
                // other ids.)
                if let Some(user) = user_id
                    && is_banned(conn, user)?
                {
                    return Ok(Reply::Changed(create));
                }
                let stored = if create {
                    conn.prepare_cached(
                        "INSERT INTO tower_sessions (id, data, expiry_date) VALUES (?, ?, ?)
                         ON CONFLICT (id) DO NOTHING",
                    )?
                    .execute(params![id, data, expiry_date])?
                } else {
                    conn.prepare_cached(
                        "UPDATE tower_sessions SET data = ?, expiry_date = ? WHERE id = ?",
                    )?
                    .execute(params![data, expiry_date, id])?
                };
                let changed = stored == 1;
                if let (true, Some(user)) = (changed, user_id) {
                    conn.prepare_cached(
                        "INSERT INTO user_sessions (session_id, user_id, created_at, expiry_date)
                         VALUES (?, ?, ?, ?)
                         ON CONFLICT (session_id) DO UPDATE SET expiry_date = excluded.expiry_date",
                    )?
                    .execute(params![
                        id,
                        user.0,
                        now_ms(),
                        expiry_unix * 1000
                    ])?;
                }
                Ok(Reply::Changed(changed))
            }
            Cmd::DeleteSession { id } => {
                conn.prepare_cached("DELETE FROM tower_sessions WHERE id = ?")?
                    .execute([&id])?;
                conn.prepare_cached("DELETE FROM user_sessions WHERE session_id = ?")?
                    .execute([&id])?;
                Ok(Reply::Done)
            }
            Cmd::EndUserSessions { user_id } => {
                conn.prepare_cached(
                    "DELETE FROM tower_sessions WHERE id IN
                       (SELECT session_id FROM user_sessions WHERE user_id = ?)",
                )?
                .execute([user_id.0])?;
                let ended = conn
                    .prepare_cached("DELETE FROM user_sessions WHERE user_id = ?")?
                    .execute([user_id.0])?;
                Ok(Reply::Changed(ended > 0))
            }
            Cmd::DeleteExpiredSessions => {
                conn.prepare_cached("DELETE FROM tower_sessions WHERE expiry_date < ?")?
                    .execute([store_time(OffsetDateTime::now_utc())?])?;
                conn.prepare_cached("DELETE FROM user_sessions WHERE expiry_date < ?")?
                    .execute([now_ms()])?;
                Ok(Reply::Done)
            }
            Cmd::Ban { user, banned: true } => {
                let n = conn
                    .prepare_cached(
                        "UPDATE users SET banned_at = max(?1,
                           (SELECT coalesce(max(banned_at), 0) + 1 FROM users
                            WHERE banned_at IS NOT NULL))
                         WHERE id = ?2 AND banned_at IS NULL",
                    )?
                    .execute(params![now_ms(), user.0])?;
                if n == 0 {
                    return Err(unchanged(conn, user, "already banned")?);
                }
                Cmd::EndUserSessions { user_id: user }.apply(conn)?;
                Ok(Reply::Changed(true))
            }
            Cmd::Ban {
                user,
                banned: false,
            } => {
                let n = conn
                    .prepare_cached(
                        "UPDATE users SET banned_at = NULL WHERE id = ? AND banned_at IS NOT NULL",
                    )?
                    .execute([user.0])?;
                if n == 0 {
                    return Err(unchanged(conn, user, "not banned")?);
                }
                Ok(Reply::Changed(true))
            }
            Cmd::SetAdmin { user, admin } => {
                let n = conn
                    .prepare_cached(
                        "UPDATE users SET is_admin = ?1 WHERE id = ?2 AND is_admin <> ?1",
                    )?
                    .execute(params![i64::from(admin), user.0])?;
                if n == 0 {
                    let why = if admin {
                        "already an admin"
                    } else {
                        "not an admin"
                    };
                    return Err(unchanged(conn, user, why)?);
                }
                Ok(Reply::Changed(true))
            }
            Cmd::TakeAttempt { windows } => limits::take_at(conn, &windows, now_ms()),
            Cmd::SignedIn {
                account,
                addr,
                undo_account,
            } => limits::signed_in_at(conn, &account, &addr, undo_account, now_ms()),
            Cmd::PruneAttempts => limits::prune_at(conn, now_ms()),
        }
    }
}
