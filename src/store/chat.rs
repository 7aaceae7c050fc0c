//! Writes to the chat tables (`conversations`, `conversation_members`,
//! `messages`): conversations and sending. Changes to messages are in
//! [`super::chat_events`], to groups in [`super::chat_groups`].
//!
//! Items (messages and events) are numbered per conversation (seq 1, 2, …)
//! by the writer, so "everything after seq N" is an index range on any
//! node. A resend with the same (sender, client_msg_id) is the same item:
//! it gets the original seq and is stored once.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::media::{Attach, attach_tx};
use super::relations::ARE_FRIENDS;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};
use kith_core::media::Attachment;
use kith_core::protocol::{Change, Role};
use kith_core::text;

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

/// The next position in the order of all chat writes (`messages.log_pos`):
/// the one writer hands them out, so they follow commit order across
/// conversations; the partial index makes this a single index probe.
macro_rules! next_log_pos {
    () => {
        "(SELECT coalesce(max(log_pos), 0) + 1 FROM messages WHERE log_pos IS NOT NULL)"
    };
}

/// A member's row: their standing and the items they may read.
#[derive(Clone, Copy, Debug)]
pub struct Membership {
    pub role: Role,
    pub joined_seq: i64,
    /// Set once they were removed or left.
    pub left_seq: Option<i64>,
}

/// `user`'s row in `conversation`, current or former.
pub fn membership(
    conn: &Connection,
    conversation: Id,
    user: Id,
) -> Result<Option<Membership>, CmdError> {
    let row: Option<(String, i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT role, joined_seq, left_seq FROM conversation_members
             WHERE conversation_id = ? AND user_id = ?",
        )?
        .query_row(params![conversation.0, user.0], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    Ok(row.map(|(role, joined_seq, left_seq)| Membership {
        role: Role::parse(&role).unwrap_or(Role::Member),
        joined_seq,
        left_seq,
    }))
}

/// The refusal to a former member.
pub const NOT_A_MEMBER_NOW: &str = "you are no longer a member of this conversation";

/// NotFound unless `user` is a member; Forbidden once they left or were
/// removed. Answers their row.
pub fn check_member(conn: &Connection, conversation: Id, user: Id) -> Result<Membership, CmdError> {
    match membership(conn, conversation, user)? {
        Some(m) if m.left_seq.is_none() => Ok(m),
        Some(_) => Err(CmdError::Forbidden(NOT_A_MEMBER_NOW.into())),
        None => Err(CmdError::NotFound("conversation not found".into())),
    }
}

/// A stored item; `duplicate` when it was a resend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub id: Id,
    pub seq: i64,
    pub created_at: i64,
    pub duplicate: bool,
}

/// The item `sender` already stored under `client_msg_id`, if any: a
/// retry answers it again. Conflict if it was in another conversation.
pub(super) fn resent(
    conn: &Connection,
    conversation: Id,
    sender: Id,
    client_msg_id: &str,
) -> Result<Option<Stored>, CmdError> {
    let existing: Option<(i64, i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT id, conversation_id, seq, created_at FROM messages
             WHERE sender_id = ? AND client_msg_id = ?",
        )?
        .query_row(params![sender.0, client_msg_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    match existing {
        Some((_, conv, _, _)) if conv != conversation.0 => Err(CmdError::Conflict(
            "client_msg_id already used in another conversation".into(),
        )),
        Some((id, _, seq, created_at)) => Ok(Some(Stored {
            id: Id(id),
            seq,
            created_at,
            duplicate: true,
        })),
        None => Ok(None),
    }
}

/// The next seq of `conversation`. `item` becomes its latest item, which
/// orders the conversation lists, when `bump`: messages and membership
/// changes move a conversation up, edits and reactions do not (as in
/// WhatsApp).
pub(super) fn next_seq(
    conn: &Connection,
    conversation: Id,
    item: Id,
    bump: bool,
) -> Result<i64, CmdError> {
    let seq = if bump {
        conn.prepare_cached(
            "UPDATE conversations SET last_seq = last_seq + 1, last_message_id = ?
             WHERE id = ? RETURNING last_seq",
        )?
        .query_row(params![item.0, conversation.0], |r| r.get(0))?
    } else {
        conn.prepare_cached(
            "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
        )?
        .query_row(params![conversation.0], |r| r.get(0))?
    };
    Ok(seq)
}

/// Appends event `change` by `actor` (None: the server's own doing) as the
/// conversation's next item.
pub(super) fn append_event(
    conn: &Connection,
    conversation: Id,
    actor: Option<Id>,
    client_msg_id: &str,
    change: &Change,
) -> Result<Stored, CmdError> {
    let id = Id::generate();
    let (target, bump) = match change {
        Change::Edit { target_seq, .. }
        | Change::Unsend { target_seq }
        | Change::React { target_seq, .. }
        | Change::Unreact { target_seq, .. } => (Some(*target_seq), false),
        _ => (None, true),
    };
    let seq = next_seq(conn, conversation, id, bump)?;
    let value = serde_json::to_value(change).map_err(|e| CmdError::Internal(e.to_string()))?;
    let kind = value["kind"].as_str().unwrap_or("event").to_owned();
    let now = now_ms();
    conn.prepare_cached(concat!(
        "INSERT INTO messages (id, conversation_id, seq, sender_id, client_msg_id, body, created_at,
                               kind, event, target_seq, log_pos)
         VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?, ",
        next_log_pos!(),
        ")"
    ))?
    .execute(params![
        id.0,
        conversation.0,
        seq,
        actor.map(|a| a.0),
        client_msg_id,
        now,
        kind,
        value.to_string(),
        target
    ])?;
    Ok(Stored {
        id,
        seq,
        created_at: now,
        duplicate: false,
    })
}

/// The members of `conversation` named in `body` (not `author`), as
/// (id, username); records them as mentioned by item `seq` (an edit
/// clears what the earlier text named first).
pub(super) fn record_mentions(
    conn: &Connection,
    conversation: Id,
    seq: i64,
    author: Id,
    body: &str,
) -> Result<Vec<(Id, String)>, CmdError> {
    // Most messages name no one: no statement at all on their path.
    let names = text::mentions(body);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut find = conn.prepare_cached(
        "SELECT u.id, u.username FROM users u
         JOIN conversation_members m ON m.user_id = u.id AND m.conversation_id = ?1
         WHERE u.username = ?2 COLLATE NOCASE AND m.left_seq IS NULL AND u.id <> ?3",
    )?;
    let mut add = conn.prepare_cached(
        "INSERT OR IGNORE INTO message_mentions (conversation_id, seq, user_id) VALUES (?, ?, ?)",
    )?;
    let mut named = Vec::new();
    for name in names {
        let found: Option<(i64, String)> = find
            .query_row(params![conversation.0, name, author.0], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((id, username)) = found {
            add.execute(params![conversation.0, seq, id])?;
            named.push((Id(id), username));
        }
    }
    Ok(named)
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
            "INSERT INTO conversation_members (conversation_id, user_id, joined_at, role)
             VALUES (?, ?, ?, ?)",
        )?;
        for m in &members {
            add.execute(params![id.0, m.0, now, Role::Member.as_str()])?;
        }
        let creator_role = if direct { Role::Member } else { Role::Owner };
        add.execute(params![id.0, creator.0, now, creator_role.as_str()])?;
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
    /// The seq of the message this one answers.
    #[serde(default)]
    pub reply_to: Option<i64>,
}

/// A sent message, and the members it names (to be told): (id, username).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub stored: Stored,
    pub mentioned: Vec<(Id, String)>,
}

/// Refused unless seq `seq` of `conversation` is a message `member` may
/// read: answers its id, sender and whether it was unsent.
pub(super) fn readable_message(
    conn: &Connection,
    conversation: Id,
    member: &Membership,
    seq: i64,
) -> Result<(Id, Option<Id>, bool), CmdError> {
    let row: Option<(i64, Option<i64>, String, Option<i64>)> = conn
        .prepare_cached(
            "SELECT id, sender_id, kind, unsent_at FROM messages WHERE conversation_id = ? AND seq = ?",
        )?
        .query_row(params![conversation.0, seq], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    match row {
        Some((id, sender, kind, unsent)) if kind == "message" && seq > member.joined_seq => {
            Ok((Id(id), sender.map(Id), unsent.is_some()))
        }
        _ => Err(CmdError::NotFound(format!("no message with seq {seq}"))),
    }
}

/// Refused in a direct conversation across a block or with no one left.
pub(super) fn check_not_blocked(
    conn: &Connection,
    conversation: Id,
    user: Id,
) -> Result<(), CmdError> {
    if conn
        .prepare_cached(DIRECT_BLOCKED)?
        .exists(params![conversation.0, user.0])?
    {
        return Err(CmdError::Forbidden(BLOCKED_MESSAGE.into()));
    }
    Ok(())
}

impl Command for SendMessage {
    type Reply = Sent;
    fn apply(self, conn: &Connection) -> Result<Sent, CmdError> {
        let SendMessage {
            id,
            conversation,
            sender,
            client_msg_id,
            body,
            media,
            reply_to,
        } = self;
        let member = check_member(conn, conversation, sender)?;
        check_not_blocked(conn, conversation, sender)?;
        if let Some(stored) = resent(conn, conversation, sender, &client_msg_id)? {
            return Ok(Sent {
                stored,
                mentioned: vec![],
            });
        }
        if let Some(r) = reply_to {
            readable_message(conn, conversation, &member, r)
                .map_err(|_| CmdError::Invalid(format!("no message with seq {r} to reply to")))?;
        }
        let seq = next_seq(conn, conversation, id, true)?;
        let now = now_ms();
        conn.prepare_cached(concat!(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, client_msg_id, body, created_at,
                                   reply_to, log_pos)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ",
            next_log_pos!(),
            ")"
        ))?
        .execute(params![id.0, conversation.0, seq, sender.0, client_msg_id, body, now, reply_to])?;
        attach_tx(conn, Attach::Message, id, sender, &media)?;
        let mentioned = record_mentions(conn, conversation, seq, sender, &body)?;
        // The sender has read their own message.
        conn.prepare_cached(
            "UPDATE conversation_members SET last_read_seq = ?
             WHERE conversation_id = ? AND user_id = ?",
        )?
        .execute(params![seq, conversation.0, sender.0])?;
        Ok(Sent {
            stored: Stored {
                id,
                seq,
                created_at: now,
                duplicate: false,
            },
            mentioned,
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
