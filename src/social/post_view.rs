//! A post as its reader sees it: the row a post query reads, the view
//! made from it (with its media, mentions and link card), and the queries
//! that read them. Reads only: the handlers that write posts, and the
//! shared JSON made from these views (`post_json`), build on this.

use serde::Serialize;
use std::sync::LazyLock;
use utoipa::ToSchema;

use libsql::params::IntoParams;

use crate::auth::accounts::{Author, Timestamp, UserView};
use crate::db::reader::{ReadError, Reader};
use crate::media::{Attach, MediaView};
use crate::store::posts::Visibility;
use crate::store::visibility::VISIBLE;
use kith_core::ids::Id;

/// A post as the reader sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PostView {
    pub id: Id,
    pub author: UserView,
    pub body: String,
    pub visibility: Visibility,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub like_count: i64,
    pub comment_count: i64,
    pub liked_by_me: bool,
    /// When the text was last edited; its earlier versions are at
    /// `GET /api/posts/{id}/history`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<Timestamp>,
    /// The people its text names with `@` (those who exist).
    pub mentions: Vec<String>,
    /// The card of its first link, once fetched.
    pub link: Option<crate::links::card::LinkCard>,
    /// The first attached item (for clients that show one video).
    pub media_id: Option<Id>,
    /// Attached photos and videos, in order, with their alt text.
    pub media: Vec<MediaView>,
}

/// A row of [`POST_SELECT`].
#[derive(Clone)]
pub struct PostRow {
    id: i64,
    body: String,
    visibility: String,
    created_at: i64,
    like_count: i64,
    comment_count: i64,
    liked_by_me: bool,
    edited_at: Option<i64>,
    has_media: bool,
    has_link: bool,
    author: Author,
}

impl PostRow {
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Whether its JSON is made from this row alone: no media, link card
    /// or mention, which come from other tables (a mention names someone
    /// only while they exist).
    pub fn self_contained(&self) -> bool {
        !self.has_media && !self.has_link && !self.body.contains('@')
    }

    /// Whether row `r` holds the values this one does in every column but
    /// `liked_by_me` (the reader's own); read in place, with no copies.
    pub fn same_as(&self, r: &libsql::Row) -> libsql::Result<bool> {
        Ok(r.get::<i64>(0)? == self.id
            && r.get_str(1)? == self.body
            && r.get_str(2)? == self.visibility
            && r.get::<i64>(3)? == self.created_at
            && r.get::<i64>(4)? == self.like_count
            && r.get::<i64>(5)? == self.comment_count
            && r.get::<Option<i64>>(7)? == self.edited_at
            && r.get::<bool>(8)? == self.has_media
            && r.get::<bool>(9)? == self.has_link
            && self.author.same_as(r, 10)?)
    }

    /// The bytes its text holds on the heap, for a cache's weight.
    pub fn heap_bytes(&self) -> usize {
        self.body.len() + self.visibility.len() + self.author.heap_bytes()
    }

    /// By column position, as [`POST_SELECT`] lists them.
    pub fn read(r: &libsql::Row) -> libsql::Result<PostRow> {
        Ok(PostRow {
            id: r.get(0)?,
            body: r.get(1)?,
            visibility: r.get(2)?,
            created_at: r.get(3)?,
            like_count: r.get(4)?,
            comment_count: r.get(5)?,
            liked_by_me: r.get(6)?,
            edited_at: r.get(7)?,
            has_media: r.get(8)?,
            has_link: r.get(9)?,
            author: Author::read(r, 10)?,
        })
    }
}

impl From<PostRow> for PostView {
    fn from(r: PostRow) -> Self {
        PostView {
            id: Id(r.id),
            author: r.author.into(),
            body: r.body,
            visibility: if r.visibility == "friends" {
                Visibility::Friends
            } else {
                Visibility::Public
            },
            created_at: Timestamp(r.created_at),
            like_count: r.like_count,
            comment_count: r.comment_count,
            liked_by_me: r.liked_by_me,
            edited_at: r.edited_at.map(Timestamp),
            mentions: Vec::new(),
            link: None,
            media_id: None,
            media: Vec::new(),
        }
    }
}

/// The columns of a `PostView` of post `p` joined to its author `a`, with
/// `$liked` the expression of `liked_by_me` for the reader `?1`, for
/// queries whose joins differ from [`POST_SELECT`]'s.
macro_rules! post_columns {
    ($liked:literal) => {
        concat!(
            "p.id, p.body, p.visibility, p.created_at, p.like_count, p.comment_count, ",
            $liked,
            " AS liked_by_me, \
             p.edited_at, \
             p.media_count > 0 AS has_media, \
             p.link_url IS NOT NULL AS has_link, ",
            $crate::author_columns!()
        )
    };
}
pub(crate) use post_columns;

/// Columns and joins for a `PostView` of post `p` read by user `?1`.
///
/// `liked_by_me` stays a subquery here, where the feed's query
/// (`social::feed`) joins `likes`: the feed's outer join measured no
/// faster than this subquery, and callers here append joins of their own
/// (search's `posts_fts`, a tag's `post_tags`) whose plans were made
/// with the subquery, so they keep it.
pub const POST_SELECT: &str = concat!(
    "SELECT ",
    post_columns!("EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.user_id = ?1)"),
    " FROM posts p JOIN users a ON a.id = p.author_id"
);

/// Runs a post query built on [`POST_SELECT`], with `params`; then the
/// page's media, mentions and link cards, each one query, and only when a
/// post on the page has some: most pages have none, and each query is a
/// read transaction of its own (a tenth of a feed read's CPU in a profile).
pub fn fetch_posts(
    db: &Reader,
    sql: &str,
    params: impl IntoParams,
) -> Result<Vec<PostView>, ReadError> {
    views(db, db.all(sql, params, PostRow::read)?)
}

/// The views of rows of [`POST_SELECT`], with their media, mentions and
/// link cards (see [`fetch_posts`]).
pub fn views(db: &Reader, rows: Vec<PostRow>) -> Result<Vec<PostView>, ReadError> {
    let with = |has: fn(&PostRow) -> bool| -> Vec<Id> {
        rows.iter().filter(|r| has(r)).map(|r| Id(r.id)).collect()
    };
    let mut media = crate::media::attached(db, Attach::Post, &with(|r| r.has_media))?;
    let mut links = crate::links::card::cards(db, &with(|r| r.has_link))?;
    let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
    let mentions = super::mentions::resolve(db, &bodies)?;
    Ok(rows
        .into_iter()
        .zip(mentions)
        .map(|(row, named)| {
            let mut p = PostView::from(row);
            p.link = links.remove(&p.id);
            p.media = media.remove(&p.id).unwrap_or_default();
            p.media_id = p.media.first().map(|m| m.id);
            p.mentions = named;
            p
        })
        .collect())
}

pub fn visible_post(db: &Reader, reader: Id, id: Id) -> Result<Option<PostView>, ReadError> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("{POST_SELECT} WHERE p.id = ?2 AND {VISIBLE}"));
    Ok(fetch_posts(db, &SQL, [reader.0, id.0])?.pop())
}
