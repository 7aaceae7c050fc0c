//! Moderation: bans and the admin flag (`users.banned_at`, `is_admin`).

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::audit::Audit;
use super::sessions::EndUserSessions;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// Bans a user, ending every session of theirs in the same transaction
/// (`banned`), or lifts the ban. Each ban's `banned_at` is later than
/// every other's, so that every node's ban watcher ([`crate::admin`])
/// sees it past the last one it saw.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ban {
    pub user: Id,
    pub banned: bool,
}

impl Command for Ban {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let Ban { user, banned } = self;
        if banned {
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
            EndUserSessions { user_id: user }.apply(conn)?;
        } else {
            let n = conn
                .prepare_cached(
                    "UPDATE users SET banned_at = NULL WHERE id = ? AND banned_at IS NOT NULL",
                )?
                .execute([user.0])?;
            if n == 0 {
                return Err(unchanged(conn, user, "not banned")?);
            }
        }
        Ok(())
    }
}

/// Grants or revokes the right to remove anyone's posts and comments.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetAdmin {
    pub user: Id,
    pub admin: bool,
}

impl Command for SetAdmin {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let SetAdmin { user, admin } = self;
        let n = conn
            .prepare_cached("UPDATE users SET is_admin = ?1 WHERE id = ?2 AND is_admin <> ?1")?
            .execute(params![i64::from(admin), user.0])?;
        if n == 0 {
            let why = if admin {
                "already an admin"
            } else {
                "not an admin"
            };
            return Err(unchanged(conn, user, why)?);
        }
        Ok(())
    }
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

impl Audit for Ban {
    fn action(&self) -> &'static str {
        if self.banned {
            "user.ban"
        } else {
            "user.unban"
        }
    }
    fn target(&self) -> String {
        format!("user:{}", self.user)
    }
}

impl Audit for SetAdmin {
    fn action(&self) -> &'static str {
        if self.admin {
            "user.make_admin"
        } else {
            "user.revoke_admin"
        }
    }
    fn target(&self) -> String {
        format!("user:{}", self.user)
    }
}
