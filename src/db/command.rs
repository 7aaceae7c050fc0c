//! Typed write commands: what the writer runs, and what a replica will
//! forward to the primary. Serde types, so they can cross the network.
//!
//! Each area owns its commands and their SQL (`auth::Cmd`, `social::*::Cmd`);
//! this module only routes them and turns SQLite's constraint errors into
//! client errors in one place.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::ids::Id;
use crate::{account, auth, chat, cluster, jobs, media, notify, social};

/// Every write kith makes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Auth(auth::Cmd),
    Account(account::Cmd),
    Friends(social::friends::Cmd),
    Blocks(social::blocks::Cmd),
    Posts(social::posts::Cmd),
    Comments(social::comments::Cmd),
    Chat(chat::Cmd),
    Notify(notify::Cmd),
    Jobs(jobs::Cmd),
    Media(media::Cmd),
    Cluster(cluster::nodes::Cmd),
    /// Stores a server-wide setting unless it is set already.
    InitSetting {
        key: String,
        value: Vec<u8>,
    },
    /// Replaces a server-wide setting only if it still holds `expect`
    /// (`None`: only if it is not set), so that two nodes that both believe
    /// they are the primary cannot overwrite each other's value unseen.
    SetSetting {
        key: String,
        value: Vec<u8>,
        expect: Option<Vec<u8>>,
    },
    /// Writes a user row, then fails: for the writer's tests.
    #[cfg(test)]
    FailAfterWriting(String),
}

impl Command {
    /// Runs the command on the writer's connection, inside a savepoint the
    /// writer opened for it.
    pub fn apply(self, conn: &Connection) -> Result<Reply, CmdError> {
        match self {
            Command::Auth(c) => c.apply(conn),
            Command::Account(c) => c.apply(conn),
            Command::Friends(c) => c.apply(conn),
            Command::Blocks(c) => c.apply(conn),
            Command::Posts(c) => c.apply(conn),
            Command::Comments(c) => c.apply(conn),
            Command::Chat(c) => c.apply(conn),
            Command::Notify(c) => c.apply(conn),
            Command::Jobs(c) => c.apply(conn),
            Command::Media(c) => c.apply(conn),
            Command::Cluster(c) => c.apply(conn),
            Command::InitSetting { key, value } => {
                let n = conn
                    .prepare_cached("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)")?
                    .execute(rusqlite::params![key, value])?;
                Ok(Reply::Changed(n == 1))
            }
            Command::SetSetting { key, value, expect } => {
                let n = match expect {
                    None => conn
                        .prepare_cached(
                            "INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)",
                        )?
                        .execute(rusqlite::params![key, value])?,
                    Some(old) => conn
                        .prepare_cached(
                            "UPDATE settings SET value = ? WHERE key = ? AND value = ?",
                        )?
                        .execute(rusqlite::params![value, key, old])?,
                };
                Ok(Reply::Changed(n == 1))
            }
            #[cfg(test)]
            Command::FailAfterWriting(name) => {
                conn.execute(
                    "INSERT INTO users (id, username, display_name, password_hash, created_at)
                     VALUES (?, ?, ?, 'x', 0)",
                    rusqlite::params![crate::ids::Id::generate().0, name, name],
                )?;
                Err(CmdError::Invalid("failed after writing".into()))
            }
        }
    }
}

/// What a command answers. Writes answer ids and flags; callers read
/// whatever else they show from the read pool, which already sees the commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Done,
    Id(Id),
    /// Whether the command changed anything (idempotent commands).
    Changed(bool),
    /// A friend request: its id, and whether it became a friendship at once
    /// because the other side had already asked.
    FriendRequest {
        id: Id,
        accepted: bool,
    },
    /// A conversation, and whether it was created (or found).
    Conversation {
        id: Id,
        created: bool,
    },
    /// A stored message; `duplicate` when it was a resend.
    Message {
        id: Id,
        seq: i64,
        created_at: i64,
        duplicate: bool,
    },
    Seq(i64),
    Ids(Vec<Id>),
    /// The job a worker claimed, if any was due.
    Claimed(Option<jobs::queue::Claimed>),
    /// Whether an attempt got through its limits; when not, how long until
    /// it would (milliseconds).
    Admission {
        retry_after_ms: Option<i64>,
    },
}

/// Why a command did not apply. Serializable, so a forwarded command's
/// failure reaches the caller on another node unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "kind", content = "message")]
pub enum CmdError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// The writer could not be reached or the database was busy: retry.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an I/O failure; the message is for logs, not for clients.
    #[error("{0}")]
    Internal(String),
}

impl From<rusqlite::Error> for CmdError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        if let rusqlite::Error::SqliteFailure(err, _) = &e {
            match err.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    return CmdError::Conflict("already exists".into());
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                    return CmdError::NotFound("a referenced record does not exist".into());
                }
                ffi::SQLITE_CONSTRAINT_CHECK | ffi::SQLITE_CONSTRAINT_NOTNULL => {
                    return CmdError::Invalid("value not allowed".into());
                }
                _ => {}
            }
            if matches!(
                err.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) {
                return CmdError::Unavailable("database is busy".into());
            }
        }
        CmdError::Internal(format!("database: {e}"))
    }
}
