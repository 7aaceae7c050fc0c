//! Writes to `comments`.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::mentions::notify_named;
use super::posts::{Edited, Text, Written, is_visible_tx, rewrite};
use super::visibility::{IS_ADMIN, VISIBLE};
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// A comment on a post its author may see.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateComment {
    pub id: Id,
    pub post: Id,
    pub author: Id,
    pub body: String,
}

impl Command for CreateComment {
    type Reply = Written;
    fn apply(self, conn: &Connection) -> Result<Written, CmdError> {
        if !is_visible_tx(conn, self.author, self.post)? {
            return Err(CmdError::NotFound("post not found".into()));
        }
        conn.prepare_cached(
            "INSERT INTO comments (id, post_id, author_id, body, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )?
        .execute(params![
            self.id.0,
            self.post.0,
            self.author.0,
            self.body,
            now_ms()
        ])?;
        let notified = notify_named(conn, self.post, Some(self.id), self.author, &self.body)?;
        Ok(Written {
            id: self.id,
            notified,
        })
    }
}

/// Replaces the text of one of the author's comments, keeping the text it
/// replaces as a version; people it names anew are told.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EditComment {
    pub id: Id,
    pub user: Id,
    pub body: String,
}

impl Command for EditComment {
    type Reply = Edited;
    fn apply(self, conn: &Connection) -> Result<Edited, CmdError> {
        let EditComment { id, user, body } = self;
        let row: Option<(i64, i64, String, i64)> = conn
            .prepare_cached(
                "SELECT author_id, post_id, body, coalesce(edited_at, created_at)
                 FROM comments WHERE id = ?",
            )?
            .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let Some((author, post, old, written)) = row else {
            return Err(CmdError::NotFound("comment not found".into()));
        };
        if !is_visible_tx(conn, user, Id(post))? {
            return Err(CmdError::NotFound("comment not found".into()));
        }
        if author != user.0 {
            return Err(CmdError::Forbidden(
                "only the author may edit a comment".into(),
            ));
        }
        if old == body {
            return Ok(Edited {
                changed: false,
                notified: vec![],
            });
        }
        rewrite(conn, Text::Comment, id, &old, written, &body)?;
        let notified = notify_named(conn, Id(post), Some(id), user, &body)?;
        Ok(Edited {
            changed: true,
            notified,
        })
    }
}

/// By the comment's author, the post's author or an admin.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteComment {
    pub id: Id,
    pub user: Id,
}

impl Command for DeleteComment {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let DeleteComment { id, user } = self;
        // An admin may remove any comment, seen or not.
        let sql = format!(
            "SELECT c.author_id, p.author_id, {VISIBLE}, {IS_ADMIN}
             FROM comments c JOIN posts p ON p.id = c.post_id
             WHERE c.id = ?2"
        );
        let row: Option<(i64, i64, bool, bool)> = conn
            .prepare_cached(&sql)?
            .query_row(params![user.0, id.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let (comment_author, post_author, admin) = match row {
            Some((c, p, visible, admin)) if visible || admin => (c, p, admin),
            _ => return Err(CmdError::NotFound("comment not found".into())),
        };
        if user.0 != comment_author && user.0 != post_author && !admin {
            return Err(CmdError::Forbidden(
                "only the comment's author, the post's author or an admin may delete it".into(),
            ));
        }
        conn.prepare_cached("DELETE FROM comments WHERE id = ?")?
            .execute([id.0])?;
        Ok(())
    }
}
