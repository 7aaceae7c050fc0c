//! Writes to `posts` and `likes`.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::links::set_link;
use super::media::{Attach, attach_tx};
use super::mentions::notify_named;
use super::notifications::{Kind, New, insert};
use super::tags::set_tags;
use super::visibility::{IS_ADMIN, VISIBLE};
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};
use kith_core::media::Attachment;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Anyone signed in.
    Public,
    /// The author and their friends.
    Friends,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Friends => "friends",
        }
    }
}

/// The post's author if `user` may see it; NotFound otherwise (an invisible
/// post is indistinguishable from a missing one).
fn visible_author(conn: &Connection, user: Id, post: Id) -> Result<Id, CmdError> {
    let sql = format!("SELECT p.author_id FROM posts p WHERE p.id = ?2 AND {VISIBLE}");
    let author: Option<i64> = conn
        .prepare_cached(&sql)?
        .query_row(params![user.0, post.0], |r| r.get(0))
        .optional()?;
    author
        .map(Id)
        .ok_or_else(|| CmdError::NotFound("post not found".into()))
}

/// Whether `user` may see `post`, on the writer's connection.
pub(super) fn is_visible_tx(conn: &Connection, user: Id, post: Id) -> Result<bool, CmdError> {
    let sql = format!("SELECT 1 FROM posts p WHERE p.id = ?2 AND {VISIBLE}");
    Ok(conn.prepare_cached(&sql)?.exists(params![user.0, post.0])?)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreatePost {
    pub id: Id,
    pub author: Id,
    pub body: String,
    pub visibility: Visibility,
    /// The author's photos and videos, in order.
    #[serde(default)]
    pub media: Vec<Attachment>,
}

/// A post or comment written: its id, and the notifications of the people
/// it named, to be pushed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub id: Id,
    pub notified: Vec<Id>,
}

impl Command for CreatePost {
    type Reply = Written;
    fn apply(self, conn: &Connection) -> Result<Written, CmdError> {
        let CreatePost {
            id,
            author,
            body,
            visibility,
            media,
        } = self;
        conn.prepare_cached(
            "INSERT INTO posts (id, author_id, body, visibility, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )?
        .execute(params![id.0, author.0, body, visibility.as_str(), now_ms()])?;
        attach_tx(conn, Attach::Post, id, author, &media)?;
        set_tags(conn, id, &body, false)?;
        set_link(conn, id, &body, false)?;
        let notified = notify_named(conn, id, None, author, &body)?;
        Ok(Written { id, notified })
    }
}

/// What has its text's earlier versions kept.
#[derive(Clone, Copy)]
pub(super) enum Text {
    Post,
    Comment,
}

/// Keeps `old` (written at `written`) as a version of post or comment
/// `id`, and puts `body` in its place.
pub(super) fn rewrite(
    conn: &Connection,
    what: Text,
    id: Id,
    old: &str,
    written: i64,
    body: &str,
) -> Result<(), CmdError> {
    let (table, versions, key) = match what {
        Text::Post => ("posts", "post_versions", "post_id"),
        Text::Comment => ("comments", "comment_versions", "comment_id"),
    };
    conn.prepare_cached(&format!(
        "INSERT INTO {versions} ({key}, body, written_at) VALUES (?, ?, ?)"
    ))?
    .execute(params![id.0, old, written])?;
    conn.prepare_cached(&format!(
        "UPDATE {table} SET body = ?, edited_at = ? WHERE id = ?"
    ))?
    .execute(params![body, now_ms(), id.0])?;
    Ok(())
}

/// Replaces the text of one of the author's posts, keeping the text it
/// replaces as a version; its tags follow, and people it names anew are
/// told. The same text again changes nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EditPost {
    pub id: Id,
    pub user: Id,
    pub body: String,
}

/// An edit's outcome: `changed` is false for the same text again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edited {
    pub changed: bool,
    pub notified: Vec<Id>,
}

impl Command for EditPost {
    type Reply = Edited;
    fn apply(self, conn: &Connection) -> Result<Edited, CmdError> {
        let EditPost { id, user, body } = self;
        let author = visible_author(conn, user, id)?;
        if author != user {
            return Err(CmdError::Forbidden(
                "only the author may edit a post".into(),
            ));
        }
        let (old, written): (String, i64) = conn
            .prepare_cached("SELECT body, coalesce(edited_at, created_at) FROM posts WHERE id = ?")?
            .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if old == body {
            return Ok(Edited {
                changed: false,
                notified: vec![],
            });
        }
        rewrite(conn, Text::Post, id, &old, written, &body)?;
        set_tags(conn, id, &body, true)?;
        set_link(conn, id, &body, true)?;
        let notified = notify_named(conn, id, None, user, &body)?;
        Ok(Edited {
            changed: true,
            notified,
        })
    }
}

/// By the author or an admin.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeletePost {
    pub id: Id,
    pub user: Id,
}

impl Command for DeletePost {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let DeletePost { id, user } = self;
        // An admin may remove any post, seen or not.
        let sql = format!("SELECT p.author_id, {VISIBLE}, {IS_ADMIN} FROM posts p WHERE p.id = ?2");
        let row: Option<(i64, bool, bool)> = conn
            .prepare_cached(&sql)?
            .query_row(params![user.0, id.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let (author, admin) = match row {
            Some((author, visible, admin)) if visible || admin => (author, admin),
            _ => return Err(CmdError::NotFound("post not found".into())),
        };
        if author != user.0 && !admin {
            return Err(CmdError::Forbidden(
                "only the author or an admin may delete a post".into(),
            ));
        }
        conn.prepare_cached("DELETE FROM posts WHERE id = ?")?
            .execute([id.0])?;
        Ok(())
    }
}

/// Likes a post the user may see, and tells its author (notification
/// `notification`, in the same transaction: one commit, not two).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Like {
    pub post: Id,
    pub user: Id,
    pub notification: Id,
}

/// What a like or unlike left: whether it changed anything, the post's
/// counts after it (read in its transaction, so the caller needs no read
/// of its own, which on a replica would wait for replication), and whether
/// the like's notification was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liking {
    pub changed: bool,
    pub like_count: i64,
    pub comment_count: i64,
    pub notified: bool,
}

fn liking(conn: &Connection, post: Id, changed: bool, notified: bool) -> Result<Liking, CmdError> {
    let (like_count, comment_count) = conn
        .prepare_cached("SELECT like_count, comment_count FROM posts WHERE id = ?")?
        .query_row([post.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(Liking {
        changed,
        like_count,
        comment_count,
        notified,
    })
}

impl Command for Like {
    type Reply = Liking;
    fn apply(self, conn: &Connection) -> Result<Liking, CmdError> {
        let author = visible_author(conn, self.user, self.post)?;
        let n = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO likes (post_id, user_id, created_at) VALUES (?, ?, ?)",
            )?
            .execute(params![self.post.0, self.user.0, now_ms()])?;
        let notified = n == 1
            && insert(
                conn,
                &New {
                    id: self.notification,
                    user: author,
                    kind: Kind::Like,
                    actor: self.user,
                    subject: self.post,
                    object: None,
                },
            )?;
        liking(conn, self.post, n == 1, notified)
    }
}

/// Takes a like back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Unlike {
    pub post: Id,
    pub user: Id,
}

impl Command for Unlike {
    type Reply = Liking;
    fn apply(self, conn: &Connection) -> Result<Liking, CmdError> {
        visible_author(conn, self.user, self.post)?;
        let n = conn
            .prepare_cached("DELETE FROM likes WHERE post_id = ? AND user_id = ?")?
            .execute(params![self.post.0, self.user.0])?;
        liking(conn, self.post, n == 1, false)
    }
}
