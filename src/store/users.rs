//! Writes to `users`: sign-up; and whether a user is banned.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::community::use_invite;
use super::{CmdError, Command, conflict_as};
use kith_core::ids::{Id, now_ms};

/// A new account; answers its id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateUser {
    pub id: Id,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    /// An invite code, counted in this transaction (`--signup invite`).
    #[serde(default)]
    pub invite: Option<String>,
    /// Awaits an admin's approval (`--signup approval`), for this reason.
    #[serde(default)]
    pub pending: Option<String>,
}

impl Command for CreateUser {
    type Reply = Id;
    fn apply(self, conn: &Connection) -> Result<Id, CmdError> {
        if let Some(code) = &self.invite {
            use_invite(conn, code)?;
        }
        let status = if self.pending.is_some() {
            "pending"
        } else {
            "active"
        };
        conn.prepare_cached(
            "INSERT INTO users (id, username, display_name, password_hash, created_at, status,
                                signup_reason, invited_with)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            self.id.0,
            self.username,
            self.display_name,
            self.password_hash,
            now_ms(),
            status,
            self.pending.as_deref().unwrap_or(""),
            self.invite
        ])
        .map_err(|e| conflict_as(e, "that username is taken"))?;
        Ok(self.id)
    }
}

pub(super) fn is_banned(conn: &Connection, user: Id) -> Result<bool, CmdError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ? AND banned_at IS NOT NULL")?
        .exists([user.0])?)
}
