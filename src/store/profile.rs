//! Writes to a user's own account: profile fields and the password.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::sessions::end_sessions;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// Sets the display name and/or bio (already checked); `None` leaves a
/// field as it is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpdateProfile {
    pub user: Id,
    pub display_name: Option<String>,
    pub bio: Option<String>,
}

impl Command for UpdateProfile {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let n = conn
            .prepare_cached(
                "UPDATE users SET display_name = coalesce(?, display_name), bio = coalesce(?, bio)
                 WHERE id = ?",
            )?
            .execute(params![self.display_name, self.bio, self.user.0])?;
        if n == 0 {
            return Err(CmdError::NotFound("user not found".into()));
        }
        Ok(())
    }
}

/// Sets a new password hash. Every session of the account but `keep`
/// ends, and every reset link still out becomes worthless: whoever knew
/// the old password, or holds an old link, is out.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetPassword {
    pub user: Id,
    pub password_hash: String,
    pub keep: Option<String>,
}

impl Command for SetPassword {
    type Reply = usize;
    fn apply(self, conn: &Connection) -> Result<usize, CmdError> {
        set_password_tx(conn, self.user, &self.password_hash, self.keep.as_deref())
    }
}

/// [`SetPassword`] in the caller's transaction; answers how many sessions
/// ended.
pub(crate) fn set_password_tx(
    conn: &Connection,
    user: Id,
    password_hash: &str,
    keep: Option<&str>,
) -> Result<usize, CmdError> {
    let n = conn
        .prepare_cached("UPDATE users SET password_hash = ? WHERE id = ?")?
        .execute(params![password_hash, user.0])?;
    if n == 0 {
        return Err(CmdError::NotFound("user not found".into()));
    }
    conn.prepare_cached(
        "UPDATE account_tokens SET used_at = ?
         WHERE user_id = ? AND purpose = 'reset_password' AND used_at IS NULL",
    )?
    .execute(params![now_ms(), user.0])?;
    end_sessions(conn, user, keep)
}

/// The password hash of `user`, for re-checking it before a change.
pub fn password_hash(conn: &Connection, user: Id) -> Result<Option<String>, CmdError> {
    Ok(conn
        .prepare_cached("SELECT password_hash FROM users WHERE id = ?")?
        .query_row([user.0], |r| r.get(0))
        .optional()?)
}
