//! Writes to `friend_requests` and `friendships`.
//!
//! A request is a row until it is answered; accepting turns it into a
//! friendship stored in both directions. Asking someone who has already
//! asked you accepts their request.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::relations::{are_friends_tx, blocker_tx, unfriend_tx};
use super::{CmdError, Command, conflict_as};
use kith_core::ids::{Id, now_ms};

fn befriend(conn: &Connection, a: Id, b: Id) -> Result<(), CmdError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO friendships (user_id, friend_id, created_at)
         VALUES (?1, ?2, ?3), (?2, ?1, ?3)",
    )?
    .execute(params![a.0, b.0, now_ms()])?;
    Ok(())
}

/// (from, to) of a pending request.
fn request_tx(conn: &Connection, id: Id) -> Result<(Id, Id), CmdError> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT from_user, to_user FROM friend_requests WHERE id = ?")?
        .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(f, t)| (Id(f), Id(t)))
        .ok_or_else(|| CmdError::NotFound("friend request not found".into()))
}

fn delete_request(conn: &Connection, id: i64) -> Result<(), CmdError> {
    conn.prepare_cached("DELETE FROM friend_requests WHERE id = ?")?
        .execute([id])?;
    Ok(())
}

/// `from` asks `to` to be friends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendRequest {
    pub id: Id,
    pub from: Id,
    pub to: Id,
}

/// A sent request: its id, and whether it became a friendship at once
/// because the other side had already asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSent {
    pub id: Id,
    pub accepted: bool,
}

impl Command for SendRequest {
    type Reply = RequestSent;
    fn apply(self, conn: &Connection) -> Result<RequestSent, CmdError> {
        let SendRequest { id, from, to } = self;
        if from == to {
            return Err(CmdError::Invalid("you cannot befriend yourself".into()));
        }
        match blocker_tx(conn, from, to)? {
            Some(b) if b == from => {
                return Err(CmdError::Conflict(
                    "you blocked this user: unblock them first".into(),
                ));
            }
            // As if they did not exist, like their profile.
            Some(_) => return Err(CmdError::NotFound("user not found".into())),
            None => {}
        }
        if are_friends_tx(conn, from, to)? {
            return Err(CmdError::Conflict("already friends".into()));
        }
        let reverse: Option<i64> = conn
            .prepare_cached("SELECT id FROM friend_requests WHERE from_user = ? AND to_user = ?")?
            .query_row(params![to.0, from.0], |r| r.get(0))
            .optional()?;
        if let Some(rid) = reverse {
            delete_request(conn, rid)?;
            befriend(conn, from, to)?;
            return Ok(RequestSent {
                id: Id(rid),
                accepted: true,
            });
        }
        conn.prepare_cached(
            "INSERT INTO friend_requests (id, from_user, to_user, created_at)
             VALUES (?, ?, ?, ?)",
        )?
        .execute(params![id.0, from.0, to.0, now_ms()])
        .map_err(|e| conflict_as(e, "friend request already sent"))?;
        Ok(RequestSent {
            id,
            accepted: false,
        })
    }
}

/// The addressee accepts or declines a request; answers its sender, to
/// tell them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answer {
    pub id: Id,
    pub user: Id,
    pub accept: bool,
}

impl Command for Answer {
    type Reply = Id;
    fn apply(self, conn: &Connection) -> Result<Id, CmdError> {
        let Answer { id, user, accept } = self;
        let (from, to) = request_tx(conn, id)?;
        if to != user {
            return Err(if from == user {
                CmdError::Forbidden("only the addressee may answer a request".into())
            } else {
                CmdError::NotFound("friend request not found".into())
            });
        }
        delete_request(conn, id.0)?;
        if accept {
            befriend(conn, from, to)?;
        }
        Ok(from)
    }
}

/// The sender takes a request back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cancel {
    pub id: Id,
    pub user: Id,
}

impl Command for Cancel {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let Cancel { id, user } = self;
        let (from, to) = request_tx(conn, id)?;
        if from != user {
            return Err(if to == user {
                CmdError::Forbidden("decline a request sent to you instead".into())
            } else {
                CmdError::NotFound("friend request not found".into())
            });
        }
        delete_request(conn, id.0)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Unfriend {
    pub user: Id,
    pub other: Id,
}

impl Command for Unfriend {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        if !unfriend_tx(conn, self.user, self.other)? {
            return Err(CmdError::NotFound("not friends".into()));
        }
        Ok(())
    }
}
