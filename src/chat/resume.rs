//! `resume`: a client back after minutes away, on any node, names the
//! resume point it was last given and gets everything it missed in one
//! exchange: the new items (messages, edits, reactions, membership events)
//! of every conversation it may read, and its new notifications. Friends'
//! presence comes with every connection's greeting already.
//!
//! A point is a position in the order of all chat writes
//! (`messages.log_pos`, handed out by the one writer). A client is given
//! one in `hello`, in `checkpoint` frames, and with each `resumed`.

use sqlx::SqlitePool;

use crate::db::{DbError, Reader};

use super::items;
use crate::realtime::hub::Frame;
use crate::store::visibility::MEMBER_READS;
use kith_core::ids::Id;
use kith_core::protocol::ServerFrame;
use kith_core::resume::Point;
pub use kith_core::resume::SETTLE;

/// More missed items than this, and the client is told to load afresh: a
/// replay that size is slower than reading the conversations it shows
/// (50 conversations of 40 items each is a full load's worth).
pub const MAX_REPLAY: i64 = 2_000;

/// Notifications created this long before a point was issued are sent
/// again: a notification is stored by a background task after the write
/// that caused it, so it may land just after the point was taken. The
/// client keeps each by id, so a repeat costs a few bytes.
pub const NOTIFY_MARGIN_MS: i64 = 10_000;

/// At most this many notifications are replayed (the newest); the list
/// pages the rest.
pub const MAX_NOTIFICATIONS: i64 = 200;

/// What a resume sends.
pub struct Replay {
    /// Items, then notifications.
    pub frames: Vec<Frame>,
    /// Too much was missed: nothing was sent; load afresh.
    pub full: bool,
    /// The position everything sent reaches: the next resume point.
    pub position: i64,
}

/// Everything `user` missed since `point`.
pub async fn replay(
    pool: &SqlitePool,
    db: &Reader,
    user: Id,
    point: Point,
) -> Result<Replay, DbError> {
    // Read first: whatever is committed later comes live, or at the latest
    // with the next resume.
    let position = super::position::position(db)?;
    let missed: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT mg.conversation_id, min(mg.seq), count(*) FROM messages mg
         JOIN conversation_members cm ON cm.conversation_id = mg.conversation_id AND cm.user_id = ?1
         WHERE mg.log_pos > ?2 AND mg.log_pos <= ?3 AND {MEMBER_READS}
         GROUP BY mg.conversation_id"
    ))
    .bind(user.0)
    .bind(point.position)
    .bind(position)
    .fetch_all(pool)
    .await?;
    let total: i64 = missed.iter().map(|m| m.2).sum();
    if total > MAX_REPLAY {
        return Ok(Replay {
            frames: Vec::new(),
            full: true,
            position,
        });
    }
    let mut frames = Vec::with_capacity(total as usize);
    for (conversation, first, _) in missed {
        let conversation = Id(conversation);
        let Some(range) = items::range(db, conversation, user)? else {
            continue;
        };
        let (after, before) = range.clamp(first - 1, i64::MAX);
        for item in items::page(db, conversation, after, before, MAX_REPLAY, true)? {
            frames.push(item.into_frame().encode());
        }
    }
    let notifications: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM (SELECT id FROM notifications WHERE user_id = ? AND created_at > ?
                         ORDER BY id DESC LIMIT ?) ORDER BY id",
    )
    .bind(user.0)
    .bind(point.issued_ms - NOTIFY_MARGIN_MS)
    .bind(MAX_NOTIFICATIONS)
    .fetch_all(pool)
    .await?;
    for id in notifications {
        if let Some(n) = crate::notify::by_id(db, Id(id))?
            && let Ok(value) = serde_json::to_value(&n)
        {
            frames.push(ServerFrame::Notification(value).encode());
        }
    }
    Ok(Replay {
        frames,
        full: false,
        position,
    })
}
