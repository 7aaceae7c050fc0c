//! The latest position in the order of all chat writes
//! (`messages.log_pos`) this node's database has: what a client is handed
//! as its resume point (`chat::resume`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kith_core::sync::Unpoisoned;

use crate::db::{ReadError, Reader};

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
    /// The time is taken after the read, so that [`SETTLE`](kith_core::resume::SETTLE) counted from it
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
