//! Writes to `post_tags`: a post's `#tags`, kept in step with its text in
//! the transaction that writes it, and the backfill that gives posts
//! written before tags were kept theirs.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::jobs::{NewJob, enqueue_tx};
use super::{CmdError, Command};
use kith_core::ids::Id;
use kith_core::text;

/// Sets `post`'s tags to those of `body`; `edit`: it had tags to drop (a
/// new post has none, and most posts name no tag: then no statement runs).
pub fn set_tags(conn: &Connection, post: Id, body: &str, edit: bool) -> Result<(), CmdError> {
    let tags = text::hashtags(body);
    if edit {
        conn.prepare_cached("DELETE FROM post_tags WHERE post_id = ?")?
            .execute([post.0])?;
    }
    if tags.is_empty() {
        return Ok(());
    }
    let mut add = conn.prepare_cached(
        "INSERT OR IGNORE INTO post_tags (tag, post_id, created_at, public)
         SELECT ?1, p.id, p.created_at, p.visibility = 'public' FROM posts p WHERE p.id = ?2",
    )?;
    for tag in tags {
        add.execute(params![tag, post.0])?;
    }
    Ok(())
}

/// The job kind that gives posts written before tags were kept their tags.
pub const TAGS_JOB: &str = "tags_backfill";

/// Posts per backfill step: one short transaction (about 10 ms of the
/// writer at 500 posts), so live writes barely wait behind it.
pub const BACKFILL_BATCH: i64 = 500;

/// Sets the tags of the next [`BACKFILL_BATCH`] posts after `after` (by
/// id) from their text, and when there may be more, enqueues the step
/// after them in the same transaction. Running a step twice sets the same
/// tags again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackfillTags {
    pub after: Id,
}

impl Command for BackfillTags {
    /// The last post done, when the step was full (more may follow).
    type Reply = Option<Id>;
    fn apply(self, conn: &Connection) -> Result<Option<Id>, CmdError> {
        let posts: Vec<(i64, String)> = conn
            .prepare_cached("SELECT id, body FROM posts WHERE id > ? ORDER BY id LIMIT ?")?
            .query_map(params![self.after.0, BACKFILL_BATCH], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        for (id, body) in &posts {
            set_tags(conn, Id(*id), body, true)?;
        }
        let last = posts.last().map(|p| Id(p.0));
        let next = last.filter(|_| posts.len() as i64 == BACKFILL_BATCH);
        if let Some(after) = next {
            enqueue_tx(conn, &backfill_job(after))?;
        }
        Ok(next)
    }
}

/// The backfill step that starts after post `after`.
pub fn backfill_job(after: Id) -> NewJob {
    NewJob {
        id: Id::generate(),
        kind: TAGS_JOB.into(),
        payload: serde_json::json!({ "after": after }).to_string(),
        priority: -1,
        max_attempts: 5,
        idempotency_key: Some(format!("{TAGS_JOB}:{}", after.0)),
        owner: None,
    }
}
