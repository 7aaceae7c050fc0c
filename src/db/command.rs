//! Typed write commands: what the writer runs, and what a replica will
//! forward to the primary. Serde types, so they can cross the network.
//!
//! Each area owns its commands and their SQL (`auth::Cmd`, `social::*::Cmd`);
//! this module only routes them and turns SQLite's constraint errors into
//! client errors in one place.

use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteConnection;

use crate::ids::Id;
use crate::{auth, social};

/// Every write kith makes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Auth(auth::Cmd),
    Friends(social::friends::Cmd),
    Posts(social::posts::Cmd),
    Comments(social::comments::Cmd),
}

impl Command {
    /// Runs the command on the writer's connection, inside a savepoint the
    /// writer opened for it.
    pub async fn apply(self, conn: &mut SqliteConnection) -> Result<Reply, CmdError> {
        match self {
            Command::Auth(c) => c.apply(conn).await,
            Command::Friends(c) => c.apply(conn).await,
            Command::Posts(c) => c.apply(conn).await,
            Command::Comments(c) => c.apply(conn).await,
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

impl From<sqlx::Error> for CmdError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return CmdError::Conflict("already exists".into());
            }
            if db.is_foreign_key_violation() {
                return CmdError::NotFound("a referenced record does not exist".into());
            }
            if db.is_check_violation() {
                return CmdError::Invalid("value not allowed".into());
            }
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6): another process holds the lock.
            if matches!(db.code().as_deref(), Some("5") | Some("6")) {
                return CmdError::Unavailable("database is busy".into());
            }
        }
        CmdError::Internal(format!("database: {e}"))
    }
}
