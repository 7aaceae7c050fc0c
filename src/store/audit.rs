//! The audit log: every admin action, written in the transaction of the
//! action itself, so that no change lands without its entry.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// What an admin command tells the log about itself.
pub trait Audit {
    /// A stable verb: `user.ban`, `report.resolve`, …
    fn action(&self) -> &'static str;
    /// What it acted on: `user:<id>`, `report:<id>`, …
    fn target(&self) -> String;
    /// Anything else worth keeping (an outcome, a count).
    fn detail(&self) -> String {
        String::new()
    }
}

/// `cmd`, run by the admin `actor`, and logged with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Audited<C> {
    pub actor: Id,
    pub cmd: C,
}

impl<C: Command + Audit> Command for Audited<C> {
    type Reply = C::Reply;
    fn apply(self, conn: &Connection) -> Result<C::Reply, CmdError> {
        let (action, target, detail) = (self.cmd.action(), self.cmd.target(), self.cmd.detail());
        // Whoever acts must still be an admin when the write lands: a
        // right revoked on one node holds on all at once.
        let admin = conn
            .prepare_cached(
                "SELECT 1 FROM users WHERE id = ? AND is_admin <> 0 AND banned_at IS NULL",
            )?
            .exists([self.actor.0])?;
        if !admin {
            return Err(CmdError::Forbidden("admins only".into()));
        }
        let reply = self.cmd.apply(conn)?;
        log_tx(conn, Some(self.actor), action, &target, &detail)?;
        Ok(reply)
    }
}

/// Appends an entry (in the caller's transaction).
pub fn log_tx(
    conn: &Connection,
    actor: Option<Id>,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<(), CmdError> {
    conn.prepare_cached(
        "INSERT INTO audit_log (id, actor_id, action, target, detail, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        Id::generate().0,
        actor.map(|a| a.0),
        action,
        target,
        detail,
        now_ms()
    ])?;
    Ok(())
}
