//! Reads of the chat tables.

use serde::Serialize;
use sqlx::SqlitePool;
use utoipa::ToSchema;

use crate::auth::accounts::UserView;
use kith_core::ids::{Id, format_ms};
use kith_core::media::Avatar;
pub use kith_core::protocol::{MessageView, ReadPosition};

#[derive(sqlx::FromRow)]
struct MessageRow {
    conversation_id: i64,
    seq: i64,
    id: i64,
    sender: Option<String>,
    sender_id: Option<i64>,
    sender_avatar_id: Option<i64>,
    body: String,
    client_msg_id: String,
    created_at: i64,
}

impl From<MessageRow> for MessageView {
    fn from(r: MessageRow) -> Self {
        MessageView {
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
            media: Vec::new(),
        }
    }
}

/// Fills in each message's media, with one query for the lot.
async fn with_media(
    pool: &SqlitePool,
    mut messages: Vec<MessageView>,
) -> Result<Vec<MessageView>, sqlx::Error> {
    let ids: Vec<Id> = messages.iter().map(|m| m.message_id).collect();
    let mut media = crate::media::attached(pool, crate::media::Attach::Message, &ids).await?;
    for m in &mut messages {
        m.media = media.remove(&m.message_id).unwrap_or_default();
    }
    Ok(messages)
}

const MESSAGE_SELECT: &str = "SELECT m.conversation_id, m.seq, m.id, u.username AS sender, \
     u.id AS sender_id, u.avatar_id AS sender_avatar_id, m.body, \
     m.client_msg_id, m.created_at FROM messages m LEFT JOIN users u ON u.id = m.sender_id";

pub async fn is_member(pool: &SqlitePool, conversation: Id, user: Id) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM conversation_members WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(conversation.0)
    .bind(user.0)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Whether `user` has no one to message in this (direct) conversation: a
/// block, or the other member's account is gone.
pub async fn direct_blocked(
    pool: &SqlitePool,
    conversation: Id,
    user: Id,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(crate::store::chat::DIRECT_BLOCKED)
        .bind(conversation.0)
        .bind(user.0)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

pub async fn member_ids(pool: &SqlitePool, conversation: Id) -> Result<Vec<Id>, sqlx::Error> {
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT user_id FROM conversation_members WHERE conversation_id = ?")
            .bind(conversation.0)
            .fetch_all(pool)
            .await?;
    Ok(ids.into_iter().map(Id).collect())
}

/// How far each member of `conversation` has read, by username.
pub async fn read_positions(
    pool: &SqlitePool,
    conversation: Id,
) -> Result<Vec<ReadPosition>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT u.username, m.last_read_seq
         FROM conversation_members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = ? ORDER BY u.username",
    )
    .bind(conversation.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, seq)| ReadPosition { user, seq })
        .collect())
}

/// Messages with `after < seq < before`, at most `limit`: the oldest ones
/// when `oldest_first`, else the newest; always returned in seq order.
pub async fn messages(
    pool: &SqlitePool,
    conversation: Id,
    after: i64,
    before: i64,
    limit: i64,
    oldest_first: bool,
) -> Result<Vec<MessageView>, sqlx::Error> {
    let order = if oldest_first { "ASC" } else { "DESC" };
    let sql = format!(
        "{MESSAGE_SELECT} WHERE m.conversation_id = ? AND m.seq > ? AND m.seq < ? \
         ORDER BY m.seq {order} LIMIT ?"
    );
    let mut rows: Vec<MessageRow> = sqlx::query_as(&sql)
        .bind(conversation.0)
        .bind(after)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    if !oldest_first {
        rows.reverse();
    }
    with_media(pool, rows.into_iter().map(MessageView::from).collect()).await
}

pub async fn message(pool: &SqlitePool, id: Id) -> Result<Option<MessageView>, sqlx::Error> {
    let sql = format!("{MESSAGE_SELECT} WHERE m.id = ?");
    let row: Option<MessageRow> = sqlx::query_as(&sql).bind(id.0).fetch_optional(pool).await?;
    Ok(
        with_media(pool, row.into_iter().map(MessageView::from).collect())
            .await?
            .pop(),
    )
}

pub async fn last_seq(pool: &SqlitePool, conversation: Id) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = ?")
        .bind(conversation.0)
        .fetch_one(pool)
        .await
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConversationView {
    pub id: Id,
    /// `direct` or `group`.
    pub kind: String,
    pub title: Option<String>,
    pub members: Vec<UserView>,
    pub last_seq: i64,
    /// Messages after your last read one.
    pub unread: i64,
    /// How far each member (you included) has read: "Seen" after a reload.
    pub read: Vec<ReadPosition>,
    pub last_message: Option<MessageView>,
}

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: i64,
    kind: String,
    title: Option<String>,
    last_seq: i64,
    last_read_seq: i64,
    last_message_id: i64,
}

/// A page of `user`'s conversations, most recently active first; the
/// cursor is the last one's `last_message_id`.
pub async fn conversations(
    pool: &SqlitePool,
    user: Id,
    before: i64,
    limit: i64,
) -> Result<Vec<(Id, ConversationView)>, sqlx::Error> {
    let rows: Vec<ConversationRow> = sqlx::query_as(
        "SELECT c.id, c.kind, c.title, c.last_seq, m.last_read_seq, c.last_message_id
         FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.user_id = ? AND c.last_message_id < ?
         ORDER BY c.last_message_id DESC LIMIT ?",
    )
    .bind(user.0)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let members: Vec<UserView> = sqlx::query_as(
            "SELECT u.id, u.username, u.display_name, u.created_at, u.avatar_id
             FROM conversation_members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = ? ORDER BY u.username",
        )
        .bind(r.id)
        .fetch_all(pool)
        .await?;
        let last_message = if r.last_seq > 0 {
            message(pool, Id(r.last_message_id)).await?
        } else {
            None
        };
        out.push((
            Id(r.last_message_id),
            ConversationView {
                id: Id(r.id),
                kind: r.kind,
                title: r.title,
                members,
                last_seq: r.last_seq,
                unread: (r.last_seq - r.last_read_seq).max(0),
                read: read_positions(pool, Id(r.id)).await?,
                last_message,
            },
        ));
    }
    Ok(out)
}
