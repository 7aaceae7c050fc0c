//! Writes to `notifications`.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    FriendRequest,
    FriendAccepted,
    Like,
    Comment,
    Message,
    /// An admin resolved a report this user made (subject: the report).
    ReportResolved,
    /// Named in a post (subject: the post) or a comment (object: it).
    Mention,
    /// Named in a chat message (subject: the conversation).
    ChatMention,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::FriendRequest => "friend_request",
            Kind::FriendAccepted => "friend_accepted",
            Kind::Like => "like",
            Kind::Comment => "comment",
            Kind::Message => "message",
            Kind::ReportResolved => "report_resolved",
            Kind::Mention => "mention",
            Kind::ChatMention => "chat_mention",
        }
    }
}

/// A notification to store: who gets it, what about, because of whom.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct New {
    pub id: Id,
    pub user: Id,
    pub kind: Kind,
    pub actor: Id,
    pub subject: Id,
    /// What inside the subject it is about: the comment on the post.
    #[serde(default)]
    pub object: Option<Id>,
}

/// Stores `n` unless it is about oneself, from someone the user muted, or
/// about a conversation they muted. A `message` notification is not
/// repeated while an unread one for the same conversation exists. Returns
/// whether it was stored. Called by other areas' commands, in their
/// transaction.
pub fn insert(conn: &Connection, n: &New) -> Result<bool, CmdError> {
    if n.user == n.actor {
        return Ok(false);
    }
    // Someone the user muted causes them no notifications (and never
    // learns it: their action succeeded all the same).
    let muted = conn
        .prepare_cached("SELECT 1 FROM mutes WHERE muter_id = ? AND muted_id = ?")?
        .exists(params![n.user.0, n.actor.0])?;
    if muted {
        return Ok(false);
    }
    if matches!(n.kind, Kind::Message | Kind::ChatMention) {
        // A muted conversation tells its member nothing.
        let muted = conn
            .prepare_cached(
                "SELECT 1 FROM conversation_members
                 WHERE conversation_id = ? AND user_id = ? AND muted <> 0",
            )?
            .exists(params![n.subject.0, n.user.0])?;
        if muted {
            return Ok(false);
        }
    }
    if n.kind == Kind::Message {
        let pending = conn
            .prepare_cached(
                "SELECT 1 FROM notifications
                 WHERE user_id = ? AND kind = 'message' AND subject_id = ? AND read_at IS NULL",
            )?
            .exists(params![n.user.0, n.subject.0])?;
        if pending {
            return Ok(false);
        }
    }
    conn.prepare_cached(
        "INSERT INTO notifications (id, user_id, kind, actor_id, subject_id, object_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        n.id.0,
        n.user.0,
        n.kind.as_str(),
        n.actor.0,
        n.subject.0,
        n.object.map(|o| o.0),
        now_ms()
    ])?;
    // Push and the app channel by the user's preferences, in this
    // transaction: a stored notification always has its deliveries.
    super::push::route_tx(conn, n.id, n.user, n.kind.as_str(), n.subject)?;
    Ok(true)
}

/// Stores a notification; answers whether it was stored ([`insert`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Notify(pub New);

impl Command for Notify {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        insert(conn, &self.0)
    }
}

/// Marks the user's notifications read: the ones named, or all; answers
/// whether any was unread.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MarkNotificationsRead {
    pub user: Id,
    pub ids: Option<Vec<Id>>,
}

impl Command for MarkNotificationsRead {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let MarkNotificationsRead { user, ids } = self;
        let now = now_ms();
        let n = match ids {
            None => conn
                .prepare_cached(
                    "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL",
                )?
                .execute(params![now, user.0])?,
            Some(ids) => {
                let mut stmt = conn.prepare_cached(
                    "UPDATE notifications SET read_at = ?
                     WHERE id = ? AND user_id = ? AND read_at IS NULL",
                )?;
                let mut n = 0;
                for id in ids {
                    n += stmt.execute(params![now, id.0, user.0])?;
                }
                n
            }
        };
        Ok(n > 0)
    }
}
