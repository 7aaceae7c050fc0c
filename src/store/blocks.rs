//! Writes to `blocks`.
//!
//! A block keeps two users apart whichever of them made it: it ends their
//! friendship and any pending request in the same transaction. What each
//! then may not see is [`crate::social::visibility`]'s.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::relations::unfriend_tx;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// `user` blocks `other`; answers whether the block is new.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Block {
    pub user: Id,
    pub other: Id,
}

impl Command for Block {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let Block { user, other } = self;
        if user == other {
            return Err(CmdError::Invalid("you cannot block yourself".into()));
        }
        let added = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO blocks (blocker_id, blocked_id, created_at)
                 VALUES (?, ?, ?)",
            )?
            .execute(params![user.0, other.0, now_ms()])?;
        unfriend_tx(conn, user, other)?;
        conn.prepare_cached(
            "DELETE FROM friend_requests
             WHERE (from_user = ?1 AND to_user = ?2) OR (from_user = ?2 AND to_user = ?1)",
        )?
        .execute(params![user.0, other.0])?;
        Ok(added == 1)
    }
}

/// `user` lifts their block of `other`; answers whether there was one.
/// Only the blocker can.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Unblock {
    pub user: Id,
    pub other: Id,
}

impl Command for Unblock {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let gone = conn
            .prepare_cached("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?")?
            .execute(params![self.user.0, self.other.0])?;
        Ok(gone == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::relations::blocker_tx;

    fn db() -> Connection {
        crate::db::engine::init();
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        crate::db::schema::apply(&mut conn).expect("in-memory database");
        for (id, name) in [(1, "ann"), (2, "bob"), (3, "cat")] {
            conn.execute(
                "INSERT INTO users (id, username, display_name, password_hash, created_at)
                 VALUES (?, ?, ?, 'x', 0)",
                params![id, name, name],
            )
            .expect("in-memory database");
        }
        conn
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0))
            .expect("in-memory database")
    }

    fn block(conn: &Connection, user: i64, other: i64) -> bool {
        Block {
            user: Id(user),
            other: Id(other),
        }
        .apply(conn)
        .expect("in-memory database")
    }

    fn unblock(conn: &Connection, user: i64, other: i64) -> bool {
        Unblock {
            user: Id(user),
            other: Id(other),
        }
        .apply(conn)
        .expect("in-memory database")
    }

    fn blocker(conn: &Connection, a: i64, b: i64) -> Option<Id> {
        blocker_tx(conn, Id(a), Id(b)).expect("in-memory database")
    }

    #[test]
    fn a_block_ends_the_friendship_and_requests_both_ways() {
        let conn = db();
        conn.execute_batch(
            "INSERT INTO friendships VALUES (1, 2, 0), (2, 1, 0), (1, 3, 0), (3, 1, 0);
             INSERT INTO friend_requests VALUES (10, 2, 3, 0), (11, 3, 2, 1);",
        )
        .expect("in-memory database");
        assert!(block(&conn, 2, 1));
        // ann and bob are apart; ann and cat untouched; counters follow.
        assert_eq!(count(&conn, "SELECT count(*) FROM friendships"), 2);
        assert_eq!(
            count(&conn, "SELECT friend_count FROM users WHERE id = 1"),
            1
        );
        assert_eq!(count(&conn, "SELECT count(*) FROM friend_requests"), 2);
        assert_eq!(blocker(&conn, 1, 2), Some(Id(2)));
        assert_eq!(blocker(&conn, 2, 1), Some(Id(2)));
        assert_eq!(blocker(&conn, 1, 3), None);
        // Again: no change. Only the blocker can lift it.
        assert!(!block(&conn, 2, 1));
        assert!(!unblock(&conn, 1, 2));
        assert!(blocker(&conn, 1, 2).is_some());
        assert!(unblock(&conn, 2, 1));
        assert_eq!(blocker(&conn, 1, 2), None);
    }

    #[test]
    fn blocking_yourself_or_no_one_is_refused() {
        let conn = db();
        let me = Block {
            user: Id(1),
            other: Id(1),
        };
        assert!(matches!(me.apply(&conn), Err(CmdError::Invalid(_))));
        let ghost = Block {
            user: Id(1),
            other: Id(99),
        };
        assert!(matches!(ghost.apply(&conn), Err(CmdError::NotFound(_))));
    }
}
