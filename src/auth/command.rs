//! Writes to the accounts and session tables.

use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteConnection;
use time::OffsetDateTime;

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
}

fn expiry(unix: i64) -> Result<OffsetDateTime, CmdError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|_| CmdError::Invalid("session expiry out of range".into()))
}

impl Cmd {
    pub async fn apply(self, conn: &mut SqliteConnection) -> Result<Reply, CmdError> {
        match self {
            Cmd::CreateUser {
                id,
                username,
                display_name,
                password_hash,
            } => {
                let res = sqlx::query(
                    "INSERT INTO users (id, username, display_name, password_hash, created_at)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(id.0)
                .bind(&username)
                .bind(&display_name)
                .bind(&password_hash)
                .bind(now_ms())
                .execute(&mut *conn)
                .await;
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
                let stored = if create {
                    sqlx::query(
                        "INSERT INTO tower_sessions (id, data, expiry_date) VALUES (?, ?, ?)
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(&id)
                    .bind(&data)
                    .bind(expiry_date)
                    .execute(&mut *conn)
                    .await?
                } else {
                    sqlx::query("UPDATE tower_sessions SET data = ?, expiry_date = ? WHERE id = ?")
                        .bind(&data)
                        .bind(expiry_date)
                        .bind(&id)
                        .execute(&mut *conn)
                        .await?
                };
                let changed = stored.rows_affected() == 1;
                if let (true, Some(user)) = (changed, user_id) {
                    sqlx::query(
                        "INSERT INTO user_sessions (session_id, user_id, created_at, expiry_date)
                         VALUES (?, ?, ?, ?)
                         ON CONFLICT (session_id) DO UPDATE SET expiry_date = excluded.expiry_date",
                    )
                    .bind(&id)
                    .bind(user.0)
                    .bind(now_ms())
                    .bind(expiry_unix * 1000)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(Reply::Changed(changed))
            }
            Cmd::DeleteSession { id } => {
                sqlx::query("DELETE FROM tower_sessions WHERE id = ?")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM user_sessions WHERE session_id = ?")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                Ok(Reply::Done)
            }
            Cmd::EndUserSessions { user_id } => {
                sqlx::query(
                    "DELETE FROM tower_sessions WHERE id IN
                       (SELECT session_id FROM user_sessions WHERE user_id = ?)",
                )
                .bind(user_id.0)
                .execute(&mut *conn)
                .await?;
                let ended = sqlx::query("DELETE FROM user_sessions WHERE user_id = ?")
                    .bind(user_id.0)
                    .execute(&mut *conn)
                    .await?;
                Ok(Reply::Changed(ended.rows_affected() > 0))
            }
            Cmd::DeleteExpiredSessions => {
                sqlx::query("DELETE FROM tower_sessions WHERE expiry_date < ?")
                    .bind(OffsetDateTime::now_utc())
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM user_sessions WHERE expiry_date < ?")
                    .bind(now_ms())
                    .execute(&mut *conn)
                    .await?;
                Ok(Reply::Done)
            }
        }
    }
}
