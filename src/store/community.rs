//! Invite codes: made, revoked, and used by sign-ups.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::audit::Audit;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// A new invite code (made and checked by the caller).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateInvite {
    pub code: String,
    pub by: Id,
    pub max_uses: i64,
    pub expires_at: Option<i64>,
}

impl Command for CreateInvite {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        conn.prepare_cached(
            "INSERT INTO invites (code, created_by, max_uses, expires_at, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )?
        .execute(params![
            self.code,
            self.by.0,
            self.max_uses,
            self.expires_at,
            now_ms()
        ])?;
        Ok(())
    }
}

/// Revokes an invite: its creator may, and so may any admin (`admin`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevokeInvite {
    pub code: String,
    pub by: Id,
    pub admin: bool,
}

impl Command for RevokeInvite {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let n = conn
            .prepare_cached(
                "UPDATE invites SET revoked_at = coalesce(revoked_at, ?)
                 WHERE code = ? AND (created_by = ? OR ?)",
            )?
            .execute(params![now_ms(), self.code, self.by.0, self.admin])?;
        if n == 0 {
            return Err(CmdError::NotFound("invite not found".into()));
        }
        Ok(())
    }
}

/// Counts one use of an invite code in the sign-up's transaction; refuses
/// one used up, expired, revoked or unknown.
pub(crate) fn use_invite(conn: &Connection, code: &str) -> Result<(), CmdError> {
    let n = conn
        .prepare_cached(
            "UPDATE invites SET uses = uses + 1
             WHERE code = ?1 AND revoked_at IS NULL AND uses < max_uses
               AND (expires_at IS NULL OR expires_at > ?2)",
        )?
        .execute(params![code, now_ms()])?;
    if n == 0 {
        return Err(CmdError::Invalid(INVALID_INVITE.into()));
    }
    Ok(())
}

pub const INVALID_INVITE: &str = "that invite code is unknown, used up, expired or revoked";

/// An invite an admin made or revoked, for the log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdminInvite<C>(pub C);

impl Command for AdminInvite<CreateInvite> {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        self.0.apply(conn)
    }
}

impl Audit for AdminInvite<CreateInvite> {
    fn action(&self) -> &'static str {
        "invite.create"
    }
    fn target(&self) -> String {
        format!("invite:{}", self.0.code)
    }
    fn detail(&self) -> String {
        format!("max_uses={}", self.0.max_uses)
    }
}
