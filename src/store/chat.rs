//! Writes to the chat tables (`conversations`, `conversation_members`,
//! `messages`).
//!
//! Messages are numbered per conversation (seq 1, 2, …) by the writer, so
//! "everything after seq N" is an index range on any node. A resend with the
//! same (sender, client_msg_id) is the same message: it gets the original
//! seq and is stored once.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::media::{Attach, attach_tx};
use super::relations::ARE_FRIENDS;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};
use kith_core::media::Attachment;

/// The most members a group conversation may have.
pub const MAX_MEMBERS: usize = 100;

/// Rows when conversation `?1` is direct and user `?2` has no one there to
/// message: the other member deleted their account, or a block stands
/// between them. Then neither may message the other.
pub const DIRECT_BLOCKED: &str = "SELECT 1 FROM conversations c
     WHERE c.id = ?1 AND c.kind = 'direct' AND NOT EXISTS (
       SELECT 1 FROM conversation_members o
       WHERE o.conversation_id = c.id AND o.user_id <> ?2
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = ?2 AND b.blocked_id = o.user_id)
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = o.user_id AND b.blocked_id = ?2))";

/// The refusal for a direct message across a block, or to no one.
pub const BLOCKED_MESSAGE: &str = "you cannot message this user";

/// NotFound unless `user` is a member.
pub fn check_member(conn: &Connection, conversation: Id, user: Id) -> Result<(), CmdError> {
    let member = conn
        .prepare_cached(
            "SELECT 1 FROM conversation_members WHERE conversation_id = ? AND user_id = ?",
        )?
        .exists(params![conversation.0, user.0])?;
    if member {
        Ok(())
    } else {
        Err(CmdError::NotFound("conversation not found".into()))
    }
}

/// A direct conversation (one other member) is found or created; a group
/// is always created. Every other member must be a friend.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateConversation {
    pub id: Id,
    pub creator: Id,
    pub members: Vec<Id>,
    pub title: Option<String>,
}

/// A conversation, and whether it was created (or found).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    pub id: Id,
    pub created: bool,
}

impl Command for CreateConversation {
    type Reply = Opened;
    fn apply(self, conn: &Connection) -> Result<Opened, CmdError> {
        let CreateConversation {
            id,
            creator,
            mut members,
            title,
        } = self;
        members.retain(|m| *m != creator);
        members.sort();
        members.dedup();
        if members.is_empty() {
            return Err(CmdError::Invalid("name at least one other member".into()));
        }
        if members.len() + 1 > MAX_MEMBERS {
            return Err(CmdError::Invalid(format!(
                "a conversation has at most {MAX_MEMBERS} members"
            )));
        }
        let mut is_friend = conn.prepare_cached(ARE_FRIENDS)?;
        for m in &members {
            if !is_friend.exists(params![creator.0, m.0])? {
                return Err(CmdError::Forbidden(
                    "you can only start conversations with friends".into(),
                ));
            }
        }
        let direct = members.len() == 1 && title.is_none();
        let direct_key = direct.then(|| {
            let (a, b) = (creator.0.min(members[0].0), creator.0.max(members[0].0));
            format!("{a}:{b}")
        });
        if let Some(key) = &direct_key {
            let existing: Option<i64> = conn
                .prepare_cached("SELECT id FROM conversations WHERE direct_key = ?")?
                .query_row([key], |r| r.get(0))
                .optional()?;
            if let Some(existing) = existing {
                return Ok(Opened {
                    id: Id(existing),
                    created: false,
                });
            }
        }
        let now = now_ms();
        conn.prepare_cached(
            "INSERT INTO conversations (id, kind, title, direct_key, created_by, created_at, last_message_id)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            id.0,
            if direct { "direct" } else { "group" },
            title,
            direct_key,
            creator.0,
            now,
            id.0
        ])?;
        let mut add = conn.prepare_cached(
            "INSERT INTO conversation_members (conversation_id, user_id, joined_at) VALUES (?, ?, ?)",
        )?;
        for m in members.iter().chain(std::iter::once(&creator)) {
            add.execute(params![id.0, m.0, now])?;
        }
        Ok(Opened { id, created: true })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendMessage {
    pub id: Id,
    pub conversation: Id,
    pub sender: Id,
    pub client_msg_id: String,
    pub body: String,
    /// The sender's photos and videos, in order.
    #[serde(default)]
    pub media: Vec<Attachment>,
}

/// A stored message; `duplicate` when it was a resend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub id: Id,
    pub seq: i64,
    pub created_at: i64,
    pub duplicate: bool,
}

impl Command for SendMessage {
    type Reply = Stored;
    fn apply(self, conn: &Connection) -> Result<Stored, CmdError> {
        let SendMessage {
            id,
            conversation,
            sender,
            client_msg_id,
            body,
            media,
        } = self;
        check_member(conn, conversation, sender)?;
        if conn
            .prepare_cached(DIRECT_BLOCKED)?
            .exists(params![conversation.0, sender.0])?
        {
            return Err(CmdError::Forbidden(BLOCKED_MESSAGE.into()));
        }
        let existing: Option<(i64, i64, i64, i64)> = conn
            .prepare_cached(
                "SELECT id, conversation_id, seq, created_at FROM messages
                 WHERE sender_id = ? AND client_msg_id = ?",
            )?
            .query_row(params![sender.0, client_msg_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        if let Some((mid, conv, seq, created_at)) = existing {
            if conv != conversation.0 {
                return Err(CmdError::Conflict(
                    "client_msg_id already used in another conversation".into(),
                ));
            }
            return Ok(Stored {
                id: Id(mid),
                seq,
                created_at,
                duplicate: true,
            });
        }
        let seq: i64 = conn
            .prepare_cached(
                "UPDATE conversations SET last_seq = last_seq + 1, last_message_id = ?
                 WHERE id = ? RETURNING last_seq",
            )?
            .query_row(params![id.0, conversation.0], |r| r.get(0))?;
        let now = now_ms();
        conn.prepare_cached(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, client_msg_id, body, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![id.0, conversation.0, seq, sender.0, client_msg_id, body, now])?;
        attach_tx(conn, Attach::Message, id, sender, &media)?;
        // The sender has read their own message.
        conn.prepare_cached(
            "UPDATE conversation_members SET last_read_seq = ?
             WHERE conversation_id = ? AND user_id = ?",
        )?
        .execute(params![seq, conversation.0, sender.0])?;
        Ok(Stored {
            id,
            seq,
            created_at: now,
            duplicate: false,
        })
    }
}

/// Moves a member's read mark; answers where it now stands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MarkRead {
    pub conversation: Id,
    pub user: Id,
    pub seq: i64,
}

impl Command for MarkRead {
    type Reply = i64;
    fn apply(self, conn: &Connection) -> Result<i64, CmdError> {
        let MarkRead {
            conversation,
            user,
            seq,
        } = self;
        check_member(conn, conversation, user)?;
        // Never backwards, never past the last message.
        let applied: i64 = conn
            .prepare_cached(
                "UPDATE conversation_members
                 SET last_read_seq = max(last_read_seq,
                       min(?1, (SELECT last_seq FROM conversations WHERE id = ?2)))
                 WHERE conversation_id = ?2 AND user_id = ?3
                 RETURNING last_read_seq",
            )?
            .query_row(params![seq, conversation.0, user.0], |r| r.get(0))?;
        Ok(applied)
    }
}
