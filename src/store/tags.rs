//! Writes to `post_tags`: a post's `#tags`, kept in step with its text in
//! the transaction that writes it.

use rusqlite::{Connection, params};

use super::CmdError;
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
