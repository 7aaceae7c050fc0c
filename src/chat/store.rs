//! Reads of the chat tables.

use serde::Serialize;
use sqlx::SqlitePool;

use crate::db::reader::ReadError;
use crate::db::{DbError, Reader};
use utoipa::ToSchema;

use super::items;
use crate::auth::accounts::UserView;
use kith_core::ids::Id;
use kith_core::protocol::Role;
pub use kith_core::protocol::{MessageView, ReadPosition};

// Typing and every message's fan-out ask these: through the reader, on
// the calling thread. Through sqlx they were a hand-off to its connection
// thread and back each, and in a saturated chat run a fifth of the
// server's samples were sqlx's threads.

/// Who a typing frame goes to, and whether it may be sent.
#[derive(Debug, Default)]
pub struct Audience {
    /// The members now (not those who left or were removed).
    pub members: Vec<Id>,
    /// A direct conversation in which `user` has no one to message: a
    /// block, or the other member's account is gone.
    pub blocked: bool,
}

/// The [`Audience`] of `user` in `conversation`, in one read: typing
/// checked membership and blocks and then read the members, three reads
/// for a frame sent before most messages.
pub fn audience(db: &Reader, conversation: Id, user: Id) -> Result<Audience, ReadError> {
    // Made once: typing is on the path of most messages.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT m.user_id, EXISTS ({}) FROM conversation_members m
             WHERE m.conversation_id = ?1 AND m.left_seq IS NULL",
            crate::store::chat::DIRECT_BLOCKED
        )
    });
    let rows = db.all(&SQL, [conversation.0, user.0], |r| {
        Ok((Id(r.get::<i64>(0)?), r.get::<bool>(1)?))
    })?;
    Ok(Audience {
        blocked: rows.first().is_some_and(|(_, b)| *b),
        members: rows.into_iter().map(|(m, _)| m).collect(),
    })
}

/// The members now: who live frames of the conversation go to.
pub fn member_ids(db: &Reader, conversation: Id) -> Result<Vec<Id>, ReadError> {
    db.all(
        "SELECT user_id FROM conversation_members WHERE conversation_id = ? AND left_seq IS NULL",
        [conversation.0],
        |r| Ok(Id(r.get::<i64>(0)?)),
    )
}

/// Who a new message goes to: the members now, and those of them with a
/// push subscription (who get a delayed push if it stays unread).
#[derive(Debug, Default)]
pub struct Recipients {
    pub members: Vec<Id>,
    pub with_push: Vec<Id>,
}

/// [`Recipients`] of `conversation`, in one read: a message's fan-out and
/// its push check were two reads on the path of every message, and the
/// second (a join with a `DISTINCT` sort) cost as much as the message's
/// whole fan-out in a profile of a saturated chat run.
pub fn recipients(db: &Reader, conversation: Id) -> Result<Recipients, ReadError> {
    let rows = db.all(
        "SELECT m.user_id, EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = m.user_id)
         FROM conversation_members m WHERE m.conversation_id = ? AND m.left_seq IS NULL",
        [conversation.0],
        |r| Ok((Id(r.get::<i64>(0)?), r.get::<bool>(1)?)),
    )?;
    let with_push = rows.iter().filter(|(_, p)| *p).map(|(u, _)| *u).collect();
    let members = rows.into_iter().map(|(u, _)| u).collect();
    Ok(Recipients { members, with_push })
}

/// How far each member of `conversation` has read, by username.
pub async fn read_positions(
    pool: &SqlitePool,
    conversation: Id,
) -> Result<Vec<ReadPosition>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT u.username, m.last_read_seq
         FROM conversation_members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = ? AND m.left_seq IS NULL ORDER BY u.username",
    )
    .bind(conversation.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, seq)| ReadPosition { user, seq })
        .collect())
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
    /// The members now.
    pub members: Vec<UserView>,
    /// The last item you may read.
    pub last_seq: i64,
    /// Messages from others after your last read one (at most
    /// [`UNREAD_CAP`]).
    pub unread: i64,
    /// Of those, the ones that name you.
    pub mentions: i64,
    /// How far each member (you included) has read: "Seen" after a reload.
    pub read: Vec<ReadPosition>,
    pub last_message: Option<MessageView>,
    /// Your standing: `owner`, `admin` or `member`.
    pub role: Role,
    /// The group's owner (null for a direct conversation).
    pub owner: Option<String>,
    pub admins: Vec<String>,
    /// No notifications of it for you.
    pub muted: bool,
    /// You left or were removed: the history up to then is yours to read.
    pub left: bool,
}

/// Unread counts stop here: "999+" says all there is to say, and the count
/// stays an index walk of bounded length.
pub const UNREAD_CAP: i64 = 999;

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: i64,
    kind: String,
    title: Option<String>,
    last_seq: i64,
    last_read_seq: i64,
    last_message_id: i64,
    role: String,
    left_seq: Option<i64>,
    muted: bool,
}

const CONVERSATION_SELECT: &str = "SELECT c.id, c.kind, c.title, c.last_seq, m.last_read_seq,      c.last_message_id, m.role, m.left_seq, m.muted      FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id";

/// A page of `user`'s conversations, most recently active first; the
/// cursor is the last one's `last_message_id`.
pub async fn conversations(
    pool: &SqlitePool,
    db: &Reader,
    user: Id,
    before: i64,
    limit: i64,
) -> Result<Vec<(Id, ConversationView)>, DbError> {
    let rows: Vec<ConversationRow> = sqlx::query_as(&format!(
        "{CONVERSATION_SELECT} WHERE m.user_id = ? AND c.last_message_id < ?
         ORDER BY c.last_message_id DESC LIMIT ?"
    ))
    .bind(user.0)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push((Id(r.last_message_id), view(pool, db, user, r).await?));
    }
    Ok(out)
}

/// One of `user`'s conversations (current or former).
pub async fn conversation(
    pool: &SqlitePool,
    db: &Reader,
    user: Id,
    id: Id,
) -> Result<Option<ConversationView>, DbError> {
    let row: Option<ConversationRow> = sqlx::query_as(&format!(
        "{CONVERSATION_SELECT} WHERE m.user_id = ? AND c.id = ?"
    ))
    .bind(user.0)
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(r) => Ok(Some(view(pool, db, user, r).await?)),
        None => Ok(None),
    }
}

async fn view(
    pool: &SqlitePool,
    db: &Reader,
    user: Id,
    r: ConversationRow,
) -> Result<ConversationView, DbError> {
    let id = Id(r.id);
    let members: Vec<(i64, String, String, i64, Option<i64>, String)> = sqlx::query_as(
        "SELECT u.id, u.username, u.display_name, u.created_at, u.avatar_id, m.role
         FROM conversation_members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = ? AND m.left_seq IS NULL ORDER BY u.username",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await?;
    let group = r.kind == "group";
    let owner = members
        .iter()
        .find(|m| group && m.5 == "owner")
        .map(|m| m.1.clone());
    let admins = members
        .iter()
        .filter(|m| m.5 == "admin")
        .map(|m| m.1.clone())
        .collect();
    let members = members
        .into_iter()
        .map(|(id, username, display_name, created_at, avatar, _)| {
            UserView::new(id, username, display_name, created_at, avatar)
        })
        .collect();
    let last_seq = r.left_seq.unwrap_or(r.last_seq);
    let (unread, mentions): (i64, i64) = sqlx::query_as(
        "SELECT
           (SELECT COUNT(*) FROM (SELECT 1 FROM messages
              WHERE conversation_id = ?1 AND seq > ?2 AND seq <= ?3 AND kind = 'message'
                AND unsent_at IS NULL AND sender_id IS NOT ?4 LIMIT ?5)),
           (SELECT COUNT(*) FROM message_mentions
              WHERE user_id = ?4 AND conversation_id = ?1 AND seq > ?2 AND seq <= ?3)",
    )
    .bind(id.0)
    .bind(r.last_read_seq)
    .bind(last_seq)
    .bind(user.0)
    .bind(UNREAD_CAP)
    .fetch_one(pool)
    .await?;
    Ok(ConversationView {
        id,
        kind: r.kind,
        title: r.title,
        members,
        last_seq,
        unread,
        mentions,
        read: read_positions(pool, id).await?,
        last_message: items::last_message(db, id, last_seq)?,
        role: Role::parse(&r.role).unwrap_or(Role::Member),
        owner,
        admins,
        muted: r.muted,
        left: r.left_seq.is_some(),
    })
}
