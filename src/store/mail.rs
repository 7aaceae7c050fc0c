//! Outgoing mail as jobs: a [`Mail`] is queued in the transaction that
//! decided to send it (a verification or a reset token stored, say), so
//! that a commit always has its mail and a rollback never does. The `mail`
//! job kind (`crate::mail`) sends it.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::CmdError;
use super::jobs::{NewJob, enqueue_tx};
use kith_core::ids::Id;

/// The job kind that sends a [`Mail`].
pub const KIND: &str = "mail";

/// Attempts before a mail is given up (`dead`, visible to operators):
/// with the queue's doubling backoff capped at 15 min, about two hours of
/// an SMTP server being away.
pub const MAX_ATTEMPTS: u32 = 12;

/// A mail to send: plain text to one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// The `Message-ID`, fixed when the mail is queued: a retry sends the
    /// same message, which receivers can tell for a duplicate.
    pub message_id: String,
}

/// Queues `mail` in the caller's transaction under the idempotency key
/// `mail:<key>`; answers the job's id.
pub fn queue_tx(conn: &Connection, mail: &Mail, key: &str, owner: Option<Id>) -> Result<Id, CmdError> {
    let payload = serde_json::to_string(mail)
        .map_err(|e| CmdError::Internal(format!("encoding a mail: {e}")))?;
    enqueue_tx(
        conn,
        &NewJob {
            id: Id::generate(),
            kind: KIND.into(),
            payload,
            priority: 10,
            max_attempts: MAX_ATTEMPTS,
            idempotency_key: Some(format!("mail:{key}")),
            owner,
        },
    )
}
