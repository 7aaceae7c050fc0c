//! Single-use tokens: verifying a mail address (24 h) and resetting a
//! password (1 h). Only a token's SHA-256 is stored; the token itself
//! exists in the mail or the link an admin handed out.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::audit::Audit;
use super::mail::{Mail, queue_tx};
use super::profile::set_password_tx;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// How long a verification link works.
pub const VERIFY_TTL_MS: i64 = 24 * 3600 * 1000;
/// How long a reset link works: long enough to find the mail, short
/// enough that an old inbox is no key (OWASP ASVS 5.0 V6.4).
pub const RESET_TTL_MS: i64 = 3600 * 1000;

/// The one answer to a token that is unknown, used, expired or forged:
/// telling them apart would tell an attacker which guesses are close.
pub const INVALID: &str = "this link is invalid or has expired";

/// Records a verification token for `email` on `user`'s account, and
/// queues its mail. The address must not be another account's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestEmail {
    pub user: Id,
    pub email: String,
    pub token_hash: String,
    pub mail: Mail,
}

impl Command for RequestEmail {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        if email_taken(conn, &self.email, self.user)? {
            return Err(CmdError::Conflict(
                "that address belongs to another account".into(),
            ));
        }
        let now = now_ms();
        // An earlier link for another address stops working.
        conn.prepare_cached(
            "UPDATE account_tokens SET used_at = ?
             WHERE user_id = ? AND purpose = 'verify_email' AND used_at IS NULL",
        )?
        .execute(params![now, self.user.0])?;
        insert(
            conn,
            &self.token_hash,
            self.user,
            "verify_email",
            Some(&self.email),
            now + VERIFY_TTL_MS,
        )?;
        queue_tx(conn, &self.mail, &self.token_hash, Some(self.user))?;
        Ok(())
    }
}

/// Uses a verification token of `user`'s: the address becomes the
/// account's. A link mailed for another account is no link for this one
/// (and stays unused).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerifyEmail {
    pub user: Id,
    pub token_hash: String,
}

impl Command for VerifyEmail {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let (user, email) = take(conn, &self.token_hash, "verify_email")?;
        // An error rolls the use of the token back with everything else.
        if user != self.user {
            return Err(CmdError::NotFound(INVALID.into()));
        }
        let email = email.ok_or_else(|| CmdError::NotFound(INVALID.into()))?;
        if email_taken(conn, &email, user)? {
            return Err(CmdError::Conflict(
                "that address belongs to another account".into(),
            ));
        }
        conn.prepare_cached("UPDATE users SET email = ? WHERE id = ?")?
            .execute(params![email, user.0])?;
        Ok(())
    }
}

/// Removes the account's address (and any verification still out).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoveEmail {
    pub user: Id,
}

impl Command for RemoveEmail {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        conn.prepare_cached("UPDATE users SET email = NULL WHERE id = ?")?
            .execute([self.user.0])?;
        conn.prepare_cached(
            "UPDATE account_tokens SET used_at = ?
             WHERE user_id = ? AND purpose = 'verify_email' AND used_at IS NULL",
        )?
        .execute(params![now_ms(), self.user.0])?;
        Ok(())
    }
}

/// Records a reset token for `user`; with `mail`, queues it. Answers the
/// token's expiry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IssueReset {
    pub user: Id,
    pub token_hash: String,
    pub mail: Option<Mail>,
}

impl Command for IssueReset {
    type Reply = i64;
    fn apply(self, conn: &Connection) -> Result<i64, CmdError> {
        let exists = conn
            .prepare_cached("SELECT 1 FROM users WHERE id = ?")?
            .exists([self.user.0])?;
        if !exists {
            return Err(CmdError::NotFound("user not found".into()));
        }
        let expires = now_ms() + RESET_TTL_MS;
        insert(
            conn,
            &self.token_hash,
            self.user,
            "reset_password",
            None,
            expires,
        )?;
        if let Some(mail) = &self.mail {
            queue_tx(conn, mail, &self.token_hash, Some(self.user))?;
        }
        Ok(expires)
    }
}

impl Audit for IssueReset {
    fn action(&self) -> &'static str {
        "user.reset_link"
    }
    fn target(&self) -> String {
        format!("user:{}", self.user)
    }
}

/// Uses a reset token: sets the password (hashed by the caller) and ends
/// every session of the account. Answers the account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfirmReset {
    pub token_hash: String,
    pub password_hash: String,
}

impl Command for ConfirmReset {
    type Reply = Id;
    fn apply(self, conn: &Connection) -> Result<Id, CmdError> {
        let (user, _) = take(conn, &self.token_hash, "reset_password")?;
        set_password_tx(conn, user, &self.password_hash, None)?;
        Ok(user)
    }
}

/// Deletes tokens a day past their expiry (used or not).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PruneTokens;

impl Command for PruneTokens {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        conn.prepare_cached("DELETE FROM account_tokens WHERE expires_at < ?")?
            .execute([now_ms() - 24 * 3600 * 1000])?;
        Ok(())
    }
}

fn insert(
    conn: &Connection,
    hash: &str,
    user: Id,
    purpose: &str,
    email: Option<&str>,
    expires_at: i64,
) -> Result<(), CmdError> {
    conn.prepare_cached(
        "INSERT INTO account_tokens (hash, user_id, purpose, email, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![hash, user.0, purpose, email, now_ms(), expires_at])?;
    Ok(())
}

/// Marks an unused, unexpired token of `purpose` used; answers its
/// account and address. Any other token is [`INVALID`].
fn take(conn: &Connection, hash: &str, purpose: &str) -> Result<(Id, Option<String>), CmdError> {
    let now = now_ms();
    let row: Option<(i64, Option<String>)> = conn
        .prepare_cached(
            "UPDATE account_tokens SET used_at = ?1
             WHERE hash = ?2 AND purpose = ?3 AND used_at IS NULL AND expires_at > ?1
             RETURNING user_id, email",
        )?
        .query_row(params![now, hash, purpose], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(u, e)| (Id(u), e))
        .ok_or_else(|| CmdError::NotFound(INVALID.into()))
}

fn email_taken(conn: &Connection, email: &str, user: Id) -> Result<bool, CmdError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM users WHERE email = ? AND id <> ?")?
        .exists(params![email, user.0])?)
}
