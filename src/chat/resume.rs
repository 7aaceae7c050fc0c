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

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kith_core::sync::Unpoisoned;

use crate::db::{DbError, ReadError, Reader};

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

/// The latest position this node's database has.
pub fn position(db: &Reader) -> Result<i64, ReadError> {
    let p = db.first(
        "SELECT coalesce(max(log_pos), 0) FROM messages WHERE log_pos IS NOT NULL",
        (),
        |r| r.get::<i64>(0),
    )?;
    Ok(p.unwrap_or(0))
}

/// The latest position, read once for all of this node's connections
/// within [`Latest::PING`]. Every connection asks on every other ping (20
/// s), so 10,000 users asked 250 times a second; each read was a hand-off
/// to sqlx's thread and back, and those threads were 12% of the server's
/// samples in a capacity run. An older position is always safe to hand
/// out: a resume from it replays more, and the client keeps items by seq.
#[derive(Default)]
pub struct Latest(Mutex<Option<(Instant, i64)>>);

impl Latest {
    /// How old a position a ping may be given.
    pub const PING: Duration = Duration::from_secs(1);

    /// The latest position and when it was read, read again when the one
    /// held was read longer than `within` ago (`Duration::ZERO`: always).
    /// The time is taken after the read, so that [`SETTLE`] counted from it
    /// is never short.
    pub fn get(&self, db: &Reader, within: Duration) -> Result<(Instant, i64), ReadError> {
        if let Some((at, p)) = *self.0.read_lock()
            && at.elapsed() < within
        {
            return Ok((at, p));
        }
        let p = position(db)?;
        let read = (Instant::now(), p);
        let mut held = self.0.write_lock();
        // Two readers at once: keep the later read.
        if held.is_none_or(|(at, _)| at < read.0) {
            *held = Some(read);
        }
        Ok(read)
    }
}

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
    let position = position(db)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::scratch::{add_user, fresh};

    fn message(conn: &rusqlite::Connection, seq: i64) {
        conn.execute(
            "INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, body, created_at, log_pos)
             VALUES (1, ?1, 1, 'c' || ?1, 'x', 0, ?1)",
            [seq],
        )
        .expect("message");
    }

    /// A ping is given the position read for another connection within
    /// the last second, with the time of that read (so that its settling
    /// counts from the read); a new connection's hello always reads.
    #[test]
    fn pings_share_a_position_read_within_a_second() {
        let (_dir, path, conn) = fresh();
        add_user(&conn, 1);
        conn.execute(
            "INSERT INTO conversations (id, kind, created_at, last_message_id) VALUES (1, 'group', 0, 1)",
            [],
        )
        .expect("conversation");
        message(&conn, 1);
        let reader = Reader::open(&path).expect("reader");
        let latest = Latest::default();

        let first = latest.get(&reader, Latest::PING).expect("read");
        assert_eq!(first.1, 1);
        message(&conn, 2);
        let shared = latest.get(&reader, Latest::PING).expect("held");
        assert_eq!(shared, first, "a ping within the second reads again");
        let fresh = latest.get(&reader, Duration::ZERO).expect("fresh");
        assert_eq!(fresh.1, 2);
        assert!(fresh.0 > first.0);
        // The fresher read is the one held now.
        assert_eq!(latest.get(&reader, Latest::PING).expect("held"), fresh);
    }
}
