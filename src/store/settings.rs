//! Writes to `settings`: server-wide values every node reads from the
//! replicated database (secrets, the WebTransport certificates).

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::{CmdError, Command};

/// Stores a setting unless it is set already; answers whether it stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InitSetting {
    pub key: String,
    pub value: Vec<u8>,
}

impl Command for InitSetting {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let n = conn
            .prepare_cached("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)")?
            .execute(params![self.key, self.value])?;
        Ok(n == 1)
    }
}

/// Replaces a setting only if it still holds `expect` (`None`: only if it
/// is not set), so that two nodes that both believe they are the primary
/// cannot overwrite each other's value unseen; answers whether it did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetSetting {
    pub key: String,
    pub value: Vec<u8>,
    pub expect: Option<Vec<u8>>,
}

impl Command for SetSetting {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let SetSetting { key, value, expect } = self;
        let n = match expect {
            None => InitSetting { key, value }.apply(conn)?,
            Some(old) => {
                conn.prepare_cached("UPDATE settings SET value = ? WHERE key = ? AND value = ?")?
                    .execute(params![value, key, old])?
                    == 1
            }
        };
        Ok(n)
    }
}
