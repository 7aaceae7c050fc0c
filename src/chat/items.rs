//! Reads of a conversation's items, messages and events, as clients see
//! them: a message with its current body, media, reply quote, reactions
//! and mentions; an event with what it changed. `sync`, the REST pages
//! and a new item's fan-out all read through here.

use std::collections::HashMap;

use sqlx::SqlitePool;

use kith_core::ids::{Id, format_ms};
use kith_core::media::Avatar;
use kith_core::protocol::{
    Change, EventView, Item, MessageView, REACTIONS, REPLY_EXCERPT_CHARS, ReactionView, ReplyTo,
};
use kith_core::text::excerpt;

#[derive(sqlx::FromRow)]
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
pub async fn range(
    pool: &SqlitePool,
    conversation: Id,
    user: Id,
) -> Result<Option<Range>, sqlx::Error> {
    let row: Option<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT joined_seq, left_seq FROM conversation_members
         WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(conversation.0)
    .bind(user.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(after, upto)| Range { after, upto }))
}

/// Items with `after < seq < before`, at most `limit`: the oldest ones
/// when `oldest_first`, else the newest; always returned in seq order.
pub async fn page(
    pool: &SqlitePool,
    conversation: Id,
    after: i64,
    before: i64,
    limit: i64,
    oldest_first: bool,
) -> Result<Vec<Item>, sqlx::Error> {
    let order = if oldest_first { "ASC" } else { "DESC" };
    let sql = format!(
        "{SELECT} WHERE m.conversation_id = ? AND m.seq > ? AND m.seq < ? \
         ORDER BY m.seq {order} LIMIT ?"
    );
    let mut rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(conversation.0)
        .bind(after)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    if !oldest_first {
        rows.reverse();
    }
    build(pool, conversation, rows).await
}

/// The item at `seq`, if any.
pub async fn at(
    pool: &SqlitePool,
    conversation: Id,
    seq: i64,
) -> Result<Option<Item>, sqlx::Error> {
    Ok(page(pool, conversation, seq - 1, seq + 1, 1, true)
        .await?
        .pop())
}

/// The latest message (not event) at or before `upto`, for a list.
pub async fn last_message(
    pool: &SqlitePool,
    conversation: Id,
    upto: i64,
) -> Result<Option<MessageView>, sqlx::Error> {
    let seq: Option<i64> = sqlx::query_scalar(
        "SELECT seq FROM messages WHERE conversation_id = ? AND seq <= ? AND kind = 'message'
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(conversation.0)
    .bind(upto)
    .fetch_optional(pool)
    .await?;
    let Some(seq) = seq else { return Ok(None) };
    Ok(match at(pool, conversation, seq).await? {
        Some(Item::Message(m)) => Some(m),
        _ => None,
    })
}

/// `?, ?, …` for `n` values.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Turns rows into items, with one query each for the page's media,
/// quotes, reactions and mentions.
async fn build(
    pool: &SqlitePool,
    conversation: Id,
    rows: Vec<Row>,
) -> Result<Vec<Item>, sqlx::Error> {
    let messages: Vec<&Row> = rows.iter().filter(|r| r.kind == "message").collect();
    let ids: Vec<Id> = messages.iter().map(|r| Id(r.id)).collect();
    let seqs: Vec<i64> = messages.iter().map(|r| r.seq).collect();
    let mut media = crate::media::attached(pool, crate::media::Attach::Message, &ids).await?;
    let mut reactions = reactions(pool, conversation, &seqs).await?;
    let mut mentions = mentions(pool, conversation, &seqs).await?;
    let quoted: Vec<i64> = messages.iter().filter_map(|r| r.reply_to).collect();
    let quotes = quotes(pool, conversation, &quoted).await?;
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

async fn reactions(
    pool: &SqlitePool,
    conversation: Id,
    seqs: &[i64],
) -> Result<HashMap<i64, Vec<ReactionView>>, sqlx::Error> {
    let mut out: HashMap<i64, Vec<ReactionView>> = HashMap::new();
    if seqs.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT r.seq, r.emoji, u.username FROM message_reactions r JOIN users u ON u.id = r.user_id
         WHERE r.conversation_id = ? AND r.seq IN ({}) ORDER BY r.seq, r.created_at, u.username",
        placeholders(seqs.len())
    );
    let mut q = sqlx::query_as::<_, (i64, String, String)>(&sql).bind(conversation.0);
    for s in seqs {
        q = q.bind(s);
    }
    for (seq, emoji, user) in q.fetch_all(pool).await? {
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

async fn mentions(
    pool: &SqlitePool,
    conversation: Id,
    seqs: &[i64],
) -> Result<HashMap<i64, Vec<String>>, sqlx::Error> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    if seqs.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT x.seq, u.username FROM message_mentions x JOIN users u ON u.id = x.user_id
         WHERE x.conversation_id = ? AND x.seq IN ({}) ORDER BY x.seq, u.username",
        placeholders(seqs.len())
    );
    let mut q = sqlx::query_as::<_, (i64, String)>(&sql).bind(conversation.0);
    for s in seqs {
        q = q.bind(s);
    }
    for (seq, user) in q.fetch_all(pool).await? {
        out.entry(seq).or_default().push(user);
    }
    Ok(out)
}

/// The messages replies quote, by seq, as they read now.
async fn quotes(
    pool: &SqlitePool,
    conversation: Id,
    seqs: &[i64],
) -> Result<HashMap<i64, ReplyTo>, sqlx::Error> {
    let mut out = HashMap::new();
    if seqs.is_empty() {
        return Ok(out);
    }
    // Cut in SQL first: a quote needs far fewer characters than a body
    // may hold (4,000).
    let sql = format!(
        "SELECT m.seq, u.username, substr(m.body, 1, 400), m.unsent_at IS NOT NULL
         FROM messages m LEFT JOIN users u ON u.id = m.sender_id
         WHERE m.conversation_id = ? AND m.seq IN ({})",
        placeholders(seqs.len())
    );
    let mut q = sqlx::query_as::<_, (i64, Option<String>, String, bool)>(&sql).bind(conversation.0);
    for s in seqs {
        q = q.bind(s);
    }
    for (seq, sender, body, unsent) in q.fetch_all(pool).await? {
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
