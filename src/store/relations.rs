//! How two users stand: friends, or kept apart by a block. The one
//! statement of each relation, for the writes that check them; reads use
//! the same SQL ([`ARE_FRIENDS`]) through the read pool.

use rusqlite::{Connection, OptionalExtension, params};

use super::CmdError;
use kith_core::ids::Id;

/// Rows when user `?1` counts user `?2` as a friend. Friendships are
/// stored both ways, so one direction answers for both. The one statement
/// of the rule, for the writer's connection and the read pool alike.
pub const ARE_FRIENDS: &str = "SELECT 1 FROM friendships WHERE user_id = ? AND friend_id = ?";

/// Ends the friendship of `?1` and `?2`, both directions.
const UNFRIEND: &str = "DELETE FROM friendships
     WHERE (user_id = ?1 AND friend_id = ?2) OR (user_id = ?2 AND friend_id = ?1)";

/// Whether `a` and `b` are friends, on the writer's connection.
pub fn are_friends_tx(conn: &Connection, a: Id, b: Id) -> Result<bool, CmdError> {
    Ok(conn
        .prepare_cached(ARE_FRIENDS)?
        .exists(params![a.0, b.0])?)
}

/// Ends any friendship of `a` and `b`; answers whether there was one.
pub fn unfriend_tx(conn: &Connection, a: Id, b: Id) -> Result<bool, CmdError> {
    Ok(conn.prepare_cached(UNFRIEND)?.execute(params![a.0, b.0])? > 0)
}

/// Who blocked whom between `a` and `b`, if either did: the blocker.
pub fn blocker_tx(conn: &Connection, a: Id, b: Id) -> Result<Option<Id>, CmdError> {
    Ok(conn
        .prepare_cached(
            "SELECT blocker_id FROM blocks
             WHERE (blocker_id = ?1 AND blocked_id = ?2) OR (blocker_id = ?2 AND blocked_id = ?1)
             LIMIT 1",
        )?
        .query_row(params![a.0, b.0], |r| r.get(0))
        .optional()?
        .map(Id))
}
