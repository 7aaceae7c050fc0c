//! Reads of a conversation's items, messages and events, as clients see
//! them: a message with its current body, media, reply quote, reactions
//! and mentions; an event with what it changed. `sync`, the REST pages
//! and a new item's fan-out all read through here.

use std::collections::HashMap;

use crate::db::reader::{ReadError, Reader, json_list, limited};
use kith_core::ids::{Id, format_ms};
use kith_core::media::Avatar;
use kith_core::protocol::{
    Change, EventView, Item, MessageView, REACTIONS, REPLY_EXCERPT_CHARS, ReactionView, ReplyTo,
};
use kith_core::text::excerpt;

struct Row {
    conversation_id: i64,
    seq: i64,
    id: i64,
    sender: Option<String>,
    sender_id: Option<i64>,
    sender_avatar_id: Option<i64>,
    body: String,
    client_msg_id: String,
    created_at: i64,
    kind: String,
    event: Option<String>,
    reply_to: Option<i64>,
    edited_at: Option<i64>,
    unsent_at: Option<i64>,
}

impl Row {
    /// A row of [`SELECT`], by column position.
    fn read(r: &libsql::Row) -> libsql::Result<Row> {
        Ok(Row {
            conversation_id: r.get(0)?,
            seq: r.get(1)?,
            id: r.get(2)?,
            sender: r.get(3)?,
            sender_id: r.get(4)?,
            sender_avatar_id: r.get(5)?,
            body: r.get(6)?,
            client_msg_id: r.get(7)?,
            created_at: r.get(8)?,
            kind: r.get(9)?,
            event: r.get(10)?,
            reply_to: r.get(11)?,
            edited_at: r.get(12)?,
            unsent_at: r.get(13)?,
        })
    }
}

const SELECT: &str = "SELECT m.conversation_id, m.seq, m.id, u.username AS sender, \
     u.id AS sender_id, u.avatar_id AS sender_avatar_id, m.body, \
     m.client_msg_id, m.created_at, m.kind, m.event, m.reply_to, m.edited_at, m.unsent_at \
     FROM messages m LEFT JOIN users u ON u.id = m.sender_id";

/// What a member may read of a conversation: the items after `after`, up
/// to `upto` once they left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub after: i64,
    pub upto: Option<i64>,
}

impl Range {
    /// Clamps (after, before) exclusive bounds to this range.
    pub fn clamp(&self, after: i64, before: i64) -> (i64, i64) {
        let before = match self.upto {
            Some(u) => before.min(u.saturating_add(1)),
            None => before,
        };
        (after.max(self.after), before)
    }
}

/// What `user` may read of `conversation`; None if they never were in it.
pub fn range(db: &Reader, conversation: Id, user: Id) -> Result<Option<Range>, ReadError> {
    db.first(
        "SELECT joined_seq, left_seq FROM conversation_members
         WHERE conversation_id = ? AND user_id = ?",
        [conversation.0, user.0],
        |r| {
            Ok(Range {
                after: r.get(0)?,
                upto: r.get(1)?,
            })
        },
    )
}

/// Items with `after < seq < before`, at most `limit`: the oldest ones
/// when `oldest_first`, else the newest; always returned in seq order.
pub fn page(
    db: &Reader,
    conversation: Id,
    after: i64,
    before: i64,
    limit: i64,
    oldest_first: bool,
) -> Result<Vec<Item>, ReadError> {
    static OLDEST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| page_sql("ASC"));
    static NEWEST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| page_sql("DESC"));
    let sql = limited(if oldest_first { &OLDEST } else { &NEWEST }, limit);
    let mut rows = db.all(&sql, [conversation.0, after, before], Row::read)?;
    if !oldest_first {
        rows.reverse();
    }
    build(db, conversation, rows)
}

fn page_sql(order: &str) -> String {
    format!(
        "{SELECT} WHERE m.conversation_id = ? AND m.seq > ? AND m.seq < ? \
         ORDER BY m.seq {order}"
    )
}

/// The item at `seq`, if any.
pub fn at(db: &Reader, conversation: Id, seq: i64) -> Result<Option<Item>, ReadError> {
    Ok(page(db, conversation, seq - 1, seq + 1, 1, true)?.pop())
}

/// The latest message (not event) at or before `upto`, for a list.
pub fn last_message(
    db: &Reader,
    conversation: Id,
    upto: i64,
) -> Result<Option<MessageView>, ReadError> {
    let seq = db.first(
        "SELECT seq FROM messages WHERE conversation_id = ? AND seq <= ? AND kind = 'message'
         ORDER BY seq DESC LIMIT 1",
        [conversation.0, upto],
        |r| r.get::<i64>(0),
    )?;
    let Some(seq) = seq else { return Ok(None) };
    Ok(match at(db, conversation, seq)? {
        Some(Item::Message(m)) => Some(m),
        _ => None,
    })
}

/// Turns rows into items, with one query each for the page's media,
/// quotes, reactions and mentions.
fn build(db: &Reader, conversation: Id, rows: Vec<Row>) -> Result<Vec<Item>, ReadError> {
    let messages: Vec<&Row> = rows.iter().filter(|r| r.kind == "message").collect();
    let ids: Vec<Id> = messages.iter().map(|r| Id(r.id)).collect();
    let seqs: Vec<i64> = messages.iter().map(|r| r.seq).collect();
    let mut media = crate::media::attached(db, crate::media::Attach::Message, &ids)?;
    let mut reactions = reactions(db, conversation, &seqs)?;
    let mut mentions = mentions(db, conversation, &seqs)?;
    let quoted: Vec<i64> = messages.iter().filter_map(|r| r.reply_to).collect();
    let quotes = quotes(db, conversation, &quoted)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if r.kind != "message" {
            let change = r
                .event
                .as_deref()
                .and_then(|e| serde_json::from_str::<Change>(e).ok());
            match change {
                Some(change) => out.push(Item::Event(EventView {
                    conversation_id: Id(r.conversation_id),
                    seq: r.seq,
                    event_id: Id(r.id),
                    actor: r.sender,
                    created_at: format_ms(r.created_at),
                    client_msg_id: r.client_msg_id,
                    change,
                })),
                // Written by a newer kith: clients ignore what they do not
                // know, and so do older nodes.
                None => tracing::debug!(seq = r.seq, kind = %r.kind, "skipping an unknown event"),
            }
            continue;
        }
        out.push(Item::Message(MessageView {
            conversation_id: Id(r.conversation_id),
            seq: r.seq,
            message_id: Id(r.id),
            sender_avatar: r
                .sender_id
                .map(|id| Avatar::of(Id(id), r.sender_avatar_id.map(Id))),
            sender: r.sender,
            body: r.body,
            client_msg_id: r.client_msg_id,
            created_at: format_ms(r.created_at),
            media: media.remove(&Id(r.id)).unwrap_or_default(),
            reply_to: r.reply_to.and_then(|q| quotes.get(&q).cloned()),
            edited_at: r.edited_at.map(format_ms),
            unsent: r.unsent_at.is_some(),
            reactions: reactions.remove(&r.seq).unwrap_or_default(),
            mentions: mentions.remove(&r.seq).unwrap_or_default(),
        }));
    }
    Ok(out)
}

fn reactions(
    db: &Reader,
    conversation: Id,
    seqs: &[i64],
) -> Result<HashMap<i64, Vec<ReactionView>>, ReadError> {
    let mut out: HashMap<i64, Vec<ReactionView>> = HashMap::new();
    if seqs.is_empty() {
        return Ok(out);
    }
    let rows = db.all(
        "SELECT r.seq, r.emoji, u.username FROM message_reactions r JOIN users u ON u.id = r.user_id
         WHERE r.conversation_id = ?1 AND r.seq IN (SELECT value FROM json_each(?2))
         ORDER BY r.seq, r.created_at, u.username",
        libsql::params![conversation.0, json_list(seqs.iter().copied())],
        |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<String>(2)?)),
    )?;
    for (seq, emoji, user) in rows {
        let list = out.entry(seq).or_default();
        match list.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) => r.users.push(user),
            None => list.push(ReactionView {
                emoji,
                users: vec![user],
            }),
        }
    }
    let rank = |e: &str| REACTIONS.iter().position(|r| *r == e).unwrap_or(usize::MAX);
    for list in out.values_mut() {
        list.sort_by_key(|r| rank(&r.emoji));
    }
    Ok(out)
}

fn mentions(
    db: &Reader,
    conversation: Id,
    seqs: &[i64],
) -> Result<HashMap<i64, Vec<String>>, ReadError> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    if seqs.is_empty() {
        return Ok(out);
    }
    let rows = db.all(
        "SELECT x.seq, u.username FROM message_mentions x JOIN users u ON u.id = x.user_id
         WHERE x.conversation_id = ?1 AND x.seq IN (SELECT value FROM json_each(?2))
         ORDER BY x.seq, u.username",
        libsql::params![conversation.0, json_list(seqs.iter().copied())],
        |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)),
    )?;
    for (seq, user) in rows {
        out.entry(seq).or_default().push(user);
    }
    Ok(out)
}

/// The messages replies quote, by seq, as they read now.
fn quotes(db: &Reader, conversation: Id, seqs: &[i64]) -> Result<HashMap<i64, ReplyTo>, ReadError> {
    let mut out = HashMap::new();
    if seqs.is_empty() {
        return Ok(out);
    }
    // Cut in SQL first: a quote needs far fewer characters than a body
    // may hold (4,000).
    let rows = db.all(
        "SELECT m.seq, u.username, substr(m.body, 1, 400), m.unsent_at IS NOT NULL
         FROM messages m LEFT JOIN users u ON u.id = m.sender_id
         WHERE m.conversation_id = ?1 AND m.seq IN (SELECT value FROM json_each(?2))",
        libsql::params![conversation.0, json_list(seqs.iter().copied())],
        |r| {
            Ok((
                r.get::<i64>(0)?,
                r.get::<Option<String>>(1)?,
                r.get::<String>(2)?,
                r.get::<bool>(3)?,
            ))
        },
    )?;
    for (seq, sender, body, unsent) in rows {
        out.insert(
            seq,
            ReplyTo {
                seq,
                sender,
                excerpt: excerpt(&body, REPLY_EXCERPT_CHARS),
                unsent,
            },
        );
    }
    Ok(out)
}
