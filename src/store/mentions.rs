//! Telling people they were named with `@` in a post or a comment: only
//! those who may see the post (the one visibility rule, blocks included),
//! never the author, not from someone they muted
//! ([`super::notifications::insert`]), and each once per post or comment,
//! so an edit tells only the people it names anew.

use rusqlite::{Connection, OptionalExtension, params};

use super::CmdError;
use super::notifications::{self, Kind, New};
use super::visibility::VISIBLE;
use kith_core::ids::Id;
use kith_core::text;

/// Notifies the users `body` names, written by `author` in `post` (or in
/// its `comment`); answers the notifications stored, to be pushed.
pub fn notify_named(
    conn: &Connection,
    post: Id,
    comment: Option<Id>,
    author: Id,
    body: &str,
) -> Result<Vec<Id>, CmdError> {
    // Most texts name no one: no statement at all on their path.
    let names = text::mentions(body);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut find = conn.prepare_cached("SELECT id FROM users WHERE username = ? COLLATE NOCASE")?;
    let sees = format!("SELECT 1 FROM posts p WHERE p.id = ?2 AND {VISIBLE}");
    let mut sees = conn.prepare_cached(&sees)?;
    let mut mark = conn.prepare_cached(
        "INSERT OR IGNORE INTO mentioned (post_id, comment_id, user_id) VALUES (?, ?, ?)",
    )?;
    let mut stored = Vec::new();
    for name in names {
        let Some(user) = find
            .query_row([&name], |r| r.get::<_, i64>(0))
            .optional()?
            .map(Id)
        else {
            continue;
        };
        if user == author || !sees.exists(params![user.0, post.0])? {
            continue;
        }
        let new = mark.execute(params![post.0, comment.map_or(0, |c| c.0), user.0])?;
        if new == 0 {
            continue;
        }
        let n = New {
            id: Id::generate(),
            user,
            kind: Kind::Mention,
            actor: author,
            subject: post,
            object: comment,
        };
        if notifications::insert(conn, &n)? {
            stored.push(n.id);
        }
    }
    Ok(stored)
}
