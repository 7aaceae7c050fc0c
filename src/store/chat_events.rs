//! Changes to chat messages as events of the conversation's sequence:
//! edits, unsends and reactions. Each is an item with its own seq, so
//! `sync` replays it and every member's client converges; the message row
//! itself takes the change too, so a page of history shows messages as
//! they now read.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::chat::{
    Stored, append_event, check_member, check_not_blocked, readable_message, record_mentions,
    resent,
};
use super::{CmdError, Command};
use kith_core::ids::{Id, format_ms, now_ms};
use kith_core::protocol::{Change, REACTIONS};

/// What a change to a message did: `item` is the event (a resend's is the
/// first one's, `duplicate`); `changed` is false when it changed nothing
/// (a reaction already there) and no event was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub item: Stored,
    pub changed: bool,
}

impl Changed {
    fn stored(item: Stored) -> Self {
        Changed {
            changed: !item.duplicate,
            item,
        }
    }
}

/// Replaces the body of one of the editor's messages.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EditMessage {
    pub conversation: Id,
    pub editor: Id,
    pub client_msg_id: String,
    pub seq: i64,
    pub body: String,
}

impl Command for EditMessage {
    type Reply = Changed;
    fn apply(self, conn: &Connection) -> Result<Changed, CmdError> {
        let EditMessage {
            conversation,
            editor,
            client_msg_id,
            seq,
            body,
        } = self;
        let member = check_member(conn, conversation, editor)?;
        check_not_blocked(conn, conversation, editor)?;
        if let Some(item) = resent(conn, conversation, editor, &client_msg_id)? {
            return Ok(Changed::stored(item));
        }
        let (id, sender, unsent) = readable_message(conn, conversation, &member, seq)?;
        if sender != Some(editor) {
            return Err(CmdError::Forbidden(
                "you can only edit your own messages".into(),
            ));
        }
        if unsent {
            return Err(CmdError::Conflict(
                "the message was unsent; it cannot be edited".into(),
            ));
        }
        let now = now_ms();
        conn.prepare_cached("UPDATE messages SET body = ?, edited_at = ? WHERE id = ?")?
            .execute(params![body, now, id.0])?;
        conn.prepare_cached("DELETE FROM message_mentions WHERE conversation_id = ? AND seq = ?")?
            .execute(params![conversation.0, seq])?;
        let mentions = record_mentions(conn, conversation, seq, editor, &body)?
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        let change = Change::Edit {
            target_seq: seq,
            body,
            mentions,
            edited_at: format_ms(now),
        };
        append_event(conn, conversation, Some(editor), &client_msg_id, &change).map(Changed::stored)
    }
}

/// Takes one of the sender's messages back for everyone: its body, its
/// media, its reactions and the bodies of its earlier edits are gone; the
/// row stays, so the sequence has no hole and replies to it say "unsent".
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Unsend {
    pub conversation: Id,
    pub sender: Id,
    pub client_msg_id: String,
    pub seq: i64,
}

impl Command for Unsend {
    type Reply = Changed;
    fn apply(self, conn: &Connection) -> Result<Changed, CmdError> {
        let Unsend {
            conversation,
            sender,
            client_msg_id,
            seq,
        } = self;
        let member = check_member(conn, conversation, sender)?;
        if let Some(item) = resent(conn, conversation, sender, &client_msg_id)? {
            return Ok(Changed::stored(item));
        }
        let (id, by, unsent) = readable_message(conn, conversation, &member, seq)?;
        if by != Some(sender) {
            return Err(CmdError::Forbidden(
                "you can only unsend your own messages".into(),
            ));
        }
        if unsent {
            return Err(CmdError::Conflict("the message is already unsent".into()));
        }
        conn.prepare_cached("UPDATE messages SET body = '', unsent_at = ? WHERE id = ?")?
            .execute(params![now_ms(), id.0])?;
        conn.prepare_cached("DELETE FROM message_media WHERE message_id = ?")?
            .execute([id.0])?;
        for table in ["message_reactions", "message_mentions"] {
            conn.prepare_cached(&format!(
                "DELETE FROM {table} WHERE conversation_id = ? AND seq = ?"
            ))?
            .execute(params![conversation.0, seq])?;
        }
        conn.prepare_cached(
            "UPDATE messages SET event = json_set(event, '$.body', '', '$.mentions', json('[]'))
             WHERE conversation_id = ? AND target_seq = ? AND kind = 'edit'",
        )?
        .execute(params![conversation.0, seq])?;
        append_event(
            conn,
            conversation,
            Some(sender),
            &client_msg_id,
            &Change::Unsend { target_seq: seq },
        )
        .map(Changed::stored)
    }
}

/// Adds a member's reaction to a message, or takes it back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct React {
    pub conversation: Id,
    pub user: Id,
    pub client_msg_id: String,
    pub seq: i64,
    pub emoji: String,
    pub remove: bool,
}

impl Command for React {
    type Reply = Changed;
    fn apply(self, conn: &Connection) -> Result<Changed, CmdError> {
        let React {
            conversation,
            user,
            client_msg_id,
            seq,
            emoji,
            remove,
        } = self;
        if !REACTIONS.contains(&emoji.as_str()) {
            return Err(CmdError::Invalid(format!(
                "emoji must be one of {}",
                REACTIONS.join(" ")
            )));
        }
        let member = check_member(conn, conversation, user)?;
        check_not_blocked(conn, conversation, user)?;
        if let Some(item) = resent(conn, conversation, user, &client_msg_id)? {
            return Ok(Changed::stored(item));
        }
        let (_, _, unsent) = readable_message(conn, conversation, &member, seq)?;
        if unsent {
            return Err(CmdError::Conflict("the message was unsent".into()));
        }
        let rows = if remove {
            conn.prepare_cached(
                "DELETE FROM message_reactions
                 WHERE conversation_id = ? AND seq = ? AND emoji = ? AND user_id = ?",
            )?
            .execute(params![conversation.0, seq, emoji, user.0])?
        } else {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO message_reactions (conversation_id, seq, emoji, user_id, created_at)
                 VALUES (?, ?, ?, ?, ?)",
            )?
            .execute(params![conversation.0, seq, emoji, user.0, now_ms()])?
        };
        if rows == 0 {
            // Already so: nothing to tell anyone.
            let last: i64 = conn
                .prepare_cached("SELECT last_seq FROM conversations WHERE id = ?")?
                .query_row([conversation.0], |r| r.get(0))?;
            return Ok(Changed {
                item: Stored {
                    id: Id(0),
                    seq: last,
                    created_at: now_ms(),
                    duplicate: true,
                },
                changed: false,
            });
        }
        let change = if remove {
            Change::Unreact {
                target_seq: seq,
                emoji,
            }
        } else {
            Change::React {
                target_seq: seq,
                emoji,
            }
        };
        append_event(conn, conversation, Some(user), &client_msg_id, &change).map(Changed::stored)
    }
}
