//! Mutes: the muter stops seeing the muted in their feed and hearing from
//! them in notifications; nothing changes for the muted.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// Mutes (`mute`) or unmutes; answers whether anything changed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetMute {
    pub muter: Id,
    pub muted: Id,
    pub mute: bool,
}

impl Command for SetMute {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        if self.muter == self.muted {
            return Err(CmdError::Invalid("you cannot mute yourself".into()));
        }
        let n = if self.mute {
            conn.prepare_cached(
                "INSERT INTO mutes (muter_id, muted_id, created_at) VALUES (?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![self.muter.0, self.muted.0, now_ms()])?
        } else {
            conn.prepare_cached("DELETE FROM mutes WHERE muter_id = ? AND muted_id = ?")?
                .execute(params![self.muter.0, self.muted.0])?
        };
        Ok(n > 0)
    }
}
