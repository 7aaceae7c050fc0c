//! Deleting an account as a whole.
//!
//! Deletion removes the user row; the schema's foreign keys take the rest
//! with it in the same transaction (profile, posts with their likes and
//! comments, the user's likes and comments elsewhere, friendships,
//! requests, blocks, notifications, memberships, media rows). Chat
//! messages stay for the other members with no sender (`ON DELETE SET
//! NULL`).

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::attempts::{account_failures_key, failures_key};
use super::audit::Audit;
use super::sessions::EndUserSessions;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// Deletes the account; answers the ids of its media, whose files the
/// caller removes once this has committed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteAccount {
    pub user: Id,
}

impl Command for DeleteAccount {
    type Reply = Vec<Id>;
    fn apply(self, conn: &Connection) -> Result<Vec<Id>, CmdError> {
        let user = self.user;
        let username: String = conn
            .prepare_cached("SELECT username FROM users WHERE id = ?")?
            .query_row([user.0], |r| r.get(0))
            .optional()?
            .ok_or_else(|| CmdError::NotFound("user not found".into()))?;
        let media: Vec<Id> = conn
            .prepare_cached("SELECT id FROM media WHERE owner_id = ?")?
            .query_map([user.0], |r| r.get(0).map(Id))?
            .collect::<Result<_, _>>()?;
        // Transcodes not yet started have nothing left to do.
        conn.prepare_cached(
            "UPDATE jobs SET status = 'cancelled', updated_at = ?
             WHERE owner_id = ? AND status IN ('queued', 'failed')",
        )?
        .execute(params![now_ms(), user.0])?;
        let conversations: Vec<i64> = conn
            .prepare_cached("SELECT conversation_id FROM conversation_members WHERE user_id = ?")?
            .query_map([user.0], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // Groups they owned pass to another member once their row is gone.
        let owned: Vec<i64> = conn
            .prepare_cached(
                "SELECT conversation_id FROM conversation_members
                 WHERE user_id = ? AND role = 'owner' AND left_seq IS NULL",
            )?
            .query_map([user.0], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        EndUserSessions { user_id: user }.apply(conn)?;
        // The addresses it signed in from are personal data too. The
        // limits key an account by its name in lower case.
        let account = username.to_ascii_lowercase();
        conn.prepare_cached("DELETE FROM auth_addresses WHERE account = ?")?
            .execute([&account])?;
        conn.prepare_cached(
            "DELETE FROM auth_attempts WHERE key = ?1 OR substr(key, 1, length(?2)) = ?2",
        )?
        .execute(params![
            account_failures_key(&account),
            failures_key(&account, "")
        ])?;
        conn.prepare_cached("DELETE FROM users WHERE id = ?")?
            .execute([user.0])?;
        // A conversation no one is left in is no one's.
        let mut orphan = conn.prepare_cached(
            "DELETE FROM conversations WHERE id = ?1 AND NOT EXISTS
               (SELECT 1 FROM conversation_members WHERE conversation_id = ?1)",
        )?;
        for c in conversations {
            orphan.execute([c])?;
        }
        for c in owned {
            super::chat_groups::hand_over(conn, Id(c))?;
        }
        Ok(media)
    }
}

/// Approves a pending account: it may sign in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Approve {
    pub user: Id,
}

impl Command for Approve {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let n = conn
            .prepare_cached(
                "UPDATE users SET status = 'active' WHERE id = ? AND status = 'pending'",
            )?
            .execute([self.user.0])?;
        if n == 0 {
            return Err(CmdError::NotFound("no pending account with that id".into()));
        }
        Ok(())
    }
}

impl Audit for Approve {
    fn action(&self) -> &'static str {
        "signup.approve"
    }
    fn target(&self) -> String {
        format!("user:{}", self.user)
    }
}

/// Rejects a pending account: it is deleted, and its name is free again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reject {
    pub user: Id,
}

impl Command for Reject {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let pending = conn
            .prepare_cached("SELECT 1 FROM users WHERE id = ? AND status = 'pending'")?
            .exists([self.user.0])?;
        if !pending {
            return Err(CmdError::NotFound("no pending account with that id".into()));
        }
        DeleteAccount { user: self.user }.apply(conn)?;
        Ok(())
    }
}

impl Audit for Reject {
    fn action(&self) -> &'static str {
        "signup.reject"
    }
    fn target(&self) -> String {
        format!("user:{}", self.user)
    }
}
