//! The store: every write kith makes, one module per group of tables.
//!
//! A write is a [`Command`]: a serializable value (so a replica can forward
//! it to the primary) whose `apply` runs on the writer's connection inside
//! the transaction the writer opened, and whose reply type is its own. The
//! writer ([`crate::db::Writer::run`]) hands that reply back to the caller
//! as it is, so no caller matches on replies it can never get.
//!
//! This layer knows SQLite (rusqlite) and the pure rules in [`crate::ids`];
//! it never names HTTP, the application state or a service.

pub mod accounts;
pub mod attempts;
pub mod audit;
pub mod blocks;
pub mod chat;
pub mod chat_events;
pub mod chat_groups;
pub mod comments;
pub mod community;
pub mod friends;
pub mod jobs;
pub mod links;
pub mod mail;
pub mod media;
pub mod mentions;
pub mod moderation;
pub mod mutes;
pub mod nodes;
pub mod notifications;
pub mod posts;
pub mod profile;
pub mod push;
pub mod relations;
pub mod reports;
pub mod sessions;
pub mod settings;
pub mod tags;
pub mod tokens;
pub mod users;
pub mod visibility;

use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One write, with the reply its callers get once it is committed.
pub trait Command: Clone + Send + 'static {
    /// What the command answers. Writes answer ids and flags; callers read
    /// whatever else they show from the read pool, which already sees the
    /// commit.
    type Reply: Serialize + DeserializeOwned + Send + 'static;

    /// Runs the command on the writer's connection, inside the transaction
    /// (or savepoint) the writer opened for it.
    fn apply(self, conn: &Connection) -> Result<Self::Reply, CmdError>;
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
    /// Over a size limit or a quota.
    #[error("{0}")]
    TooLarge(String),
    /// The writer could not be reached or the database was busy; the
    /// write did not happen: retry.
    #[error("{0}")]
    Unavailable(String),
    /// The write was handed to the primary but no answer came back: it may
    /// have been applied, or may yet be. Retry with the same
    /// `Idempotency-Key` ([`crate::db::keyed`]) to learn which, never
    /// without one.
    #[error("{0}")]
    Unknown(String),
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
            // The transaction was rolled back and the writer goes on: once
            // space is freed, the same write succeeds (tests/api/disk.rs).
            if err.code == rusqlite::ErrorCode::DiskFull {
                return CmdError::Unavailable(
                    "the server's disk is full: nothing was stored; try again later".into(),
                );
            }
            if matches!(
                err.extended_code,
                ffi::SQLITE_IOERR_WRITE | ffi::SQLITE_IOERR_FSYNC
            ) {
                return CmdError::Unavailable(
                    "the server could not write to its disk: nothing was stored; try again later"
                        .into(),
                );
            }
        }
        CmdError::Internal(format!("database: {e}"))
    }
}

/// Maps a unique-constraint conflict to a message that names what is taken.
pub(crate) fn conflict_as(e: rusqlite::Error, what: &str) -> CmdError {
    match CmdError::from(e) {
        CmdError::Conflict(_) => CmdError::Conflict(what.into()),
        other => other,
    }
}
