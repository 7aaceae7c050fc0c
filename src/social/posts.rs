//! Posts and likes (`posts`, `likes`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use std::sync::LazyLock;

use super::post_view::{POST_SELECT, PostView, visible_post};
use crate::auth::User;
use crate::auth::accounts::Timestamp;
use crate::db::reader::limited;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, JsonBytes, Page, PageParams, PageReq, Path, Query};
use crate::live::Touch;
use crate::notify;
use crate::state::AppState;
use crate::store::posts::{CreatePost, DeletePost, EditPost, Like, Unlike, Visibility};
use crate::store::visibility::VISIBLE;
use kith_core::ids::{Id, now_ms};
use kith_core::media::{Attachment, check_attachments};

pub const MAX_BODY_CHARS: usize = 10_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(get_post, delete_post, edit_post))
        .routes(routes!(history))
        .routes(routes!(like, unlike))
        .routes(routes!(user_posts))
        .routes(routes!(link_image))
}

/// A page of `author`'s posts that `reader` may see, as JSON
/// (`Page<PostView>`).
fn posts_by(
    state: &AppState,
    reader: Id,
    author: Id,
    page: PageReq,
) -> Result<JsonBytes, AppError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{POST_SELECT} WHERE p.author_id = ?2 AND p.id < ?3 AND {VISIBLE} \
             ORDER BY p.id DESC"
        )
    });
    let sql = limited(&SQL, page.fetch());
    let params = [reader.0, author.0, page.before()];
    Ok(JsonBytes(state.post_json.page(
        &state.reader,
        &sql,
        params,
        page,
    )?))
}

// ---- handlers -------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// Up to 10,000 characters; may be empty when there is media.
    #[serde(default)]
    pub body: String,
    /// `public` (default) or `friends`.
    pub visibility: Option<Visibility>,
    /// Up to 10 uploads of yours, in order, with alt text; they may still
    /// be processing.
    #[serde(default)]
    pub media: Vec<Attachment>,
    /// One upload of yours (older clients): the same as a one-item `media`.
    pub media_id: Option<Id>,
}

#[derive(Serialize, ToSchema)]
pub struct PostResponse {
    pub post: PostView,
}

/// Checks a post or comment body: not blank, at most `max` characters.
pub fn check_body(body: &str, max: usize) -> Result<(), AppError> {
    if body.trim().is_empty() {
        return Err(AppError::invalid("body must not be empty"));
    }
    if body.chars().count() > max {
        return Err(AppError::invalid(format!(
            "body must be at most {max} characters"
        )));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/posts", tag = "posts",
    request_body = NewPost,
    responses(
        (status = 201, body = PostResponse),
        (status = 404, description = "A media id names no upload of yours", body = ErrorBody),
        (status = 422, description = "Empty or too long; more than 10 media items; alt text too long", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    user: User,
    Json(req): Json<NewPost>,
) -> Result<impl IntoResponse, AppError> {
    let mut media = req.media;
    if let Some(m) = req.media_id
        && !media.iter().any(|a| a.id == m)
    {
        media.insert(0, Attachment { id: m, alt: None });
    }
    // A photo may be the whole post.
    if media.is_empty() || !req.body.trim().is_empty() {
        check_body(&req.body, MAX_BODY_CHARS)?;
    }
    check_attachments(&media).map_err(AppError::invalid)?;
    let id = crate::db::keyed::new_id();
    let written = state
        .writer
        .run(CreatePost {
            id,
            author: user.id,
            body: req.body,
            visibility: req.visibility.unwrap_or(Visibility::Public),
            media,
        })
        .await?;
    notify::push_all(&state, written.notified);
    // A link's card is a job now queued.
    state.wake_workers.notify_one();
    let post = visible_post(&state.reader, user.id, id)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("new post not readable")))?;
    state
        .touch(Touch::NewPost {
            post: id,
            author: user.id,
            name: user.view.username.clone(),
        })
        .await;
    Ok((StatusCode::CREATED, Json(PostResponse { post })))
}

#[utoipa::path(get, path = "/api/posts/{id}", tag = "posts",
    params(("id" = Id, Path)),
    responses(
        (status = 200, body = PostResponse),
        (status = 404, description = "No such post, or not visible to you", body = ErrorBody),
    ))]
async fn get_post(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<Json<PostResponse>, AppError> {
    let post =
        visible_post(&state.reader, user.id, id)?.ok_or_else(|| AppError::not_found("post"))?;
    Ok(Json(PostResponse { post }))
}

#[utoipa::path(delete, path = "/api/posts/{id}", tag = "posts",
    params(("id" = Id, Path)),
    responses(
        (status = 204, description = "Deleted with its likes and comments"),
        (status = 403, description = "Neither the author nor an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn delete_post(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<StatusCode, AppError> {
    state.writer.run(DeletePost { id, user: user.id }).await?;
    state.touch(Touch::PostChanged { post: id }).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostEdit {
    /// The new text: the same rules as a new post's.
    pub body: String,
}

#[utoipa::path(patch, path = "/api/posts/{id}", tag = "posts",
    params(("id" = Id, Path)),
    request_body = PostEdit,
    responses(
        (status = 200, description = "Edited (the same text again changes nothing)", body = PostResponse),
        (status = 403, description = "Not the author", body = ErrorBody),
        (status = 404, description = "No such post, or not visible to you", body = ErrorBody),
        (status = 422, description = "Empty (without media) or too long", body = ErrorBody),
    ))]
async fn edit_post(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
    Json(req): Json<PostEdit>,
) -> Result<Json<PostResponse>, AppError> {
    let current =
        visible_post(&state.reader, user.id, id)?.ok_or_else(|| AppError::not_found("post"))?;
    // A photo may be the whole post, as when it was written.
    if current.media.is_empty() || !req.body.trim().is_empty() {
        check_body(&req.body, MAX_BODY_CHARS)?;
    }
    let edited = state
        .writer
        .run(EditPost {
            id,
            user: user.id,
            body: req.body,
        })
        .await?;
    notify::push_all(&state, edited.notified);
    if edited.changed {
        state.wake_workers.notify_one();
        state.touch(Touch::PostChanged { post: id }).await;
    }
    let post =
        visible_post(&state.reader, user.id, id)?.ok_or_else(|| AppError::not_found("post"))?;
    Ok(Json(PostResponse { post }))
}

/// An earlier version of a post or comment.
#[derive(Serialize, ToSchema)]
pub struct Version {
    pub body: String,
    /// When this version was written.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Serialize, ToSchema)]
pub struct History {
    /// Newest first; the current text is the post's own.
    pub items: Vec<Version>,
}

/// The most versions listed: an edit war's first hundred rounds tell the
/// story.
pub const MAX_VERSIONS: i64 = 100;

/// What has versions.
#[derive(Clone, Copy)]
pub enum Versioned {
    Post,
    Comment,
}

impl History {
    /// The earlier versions of post or comment `id`, newest first (the
    /// caller has checked the reader may see it).
    pub async fn of(pool: &SqlitePool, what: Versioned, id: Id) -> Result<History, sqlx::Error> {
        let sql = match what {
            Versioned::Post => {
                "SELECT body, written_at FROM post_versions WHERE post_id = ? ORDER BY id DESC LIMIT ?"
            }
            Versioned::Comment => {
                "SELECT body, written_at FROM comment_versions WHERE comment_id = ?
                 ORDER BY id DESC LIMIT ?"
            }
        };
        let rows: Vec<(String, i64)> = sqlx::query_as(sql)
            .bind(id.0)
            .bind(MAX_VERSIONS)
            .fetch_all(pool)
            .await?;
        Ok(History {
            items: rows
                .into_iter()
                .map(|(body, at)| Version {
                    body,
                    created_at: Timestamp(at),
                })
                .collect(),
        })
    }
}

#[utoipa::path(get, path = "/api/posts/{id}/history", tag = "posts",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "The earlier versions of the text", body = History),
        (status = 404, description = "No such post, or not visible to you", body = ErrorBody),
    ))]
async fn history(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<Json<History>, AppError> {
    if visible_post(&state.reader, user.id, id)?.is_none() {
        return Err(AppError::not_found("post"));
    }
    Ok(Json(History::of(&state.read, Versioned::Post, id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct LikeState {
    pub liked: bool,
    pub like_count: i64,
}

async fn set_like(
    state: &AppState,
    user: &User,
    post: Id,
    liked: bool,
) -> Result<Json<LikeState>, AppError> {
    let r = if liked {
        let notification = crate::db::keyed::new_id();
        let like = Like {
            post,
            user: user.id,
            notification,
        };
        let r = state.writer.run(like).await?;
        if r.notified {
            notify::push_all(state, vec![notification]);
        }
        r
    } else {
        let unlike = Unlike {
            post,
            user: user.id,
        };
        state.writer.run(unlike).await?
    };
    state
        .touch(Touch::Counts {
            post,
            likes: r.like_count,
            comments: r.comment_count,
            at: now_ms(),
        })
        .await;
    Ok(Json(LikeState {
        liked,
        like_count: r.like_count,
    }))
}

#[utoipa::path(put, path = "/api/posts/{id}/like", tag = "posts",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "Liked (idempotent)", body = LikeState),
        (status = 404, body = ErrorBody),
    ))]
async fn like(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<Json<LikeState>, AppError> {
    set_like(&state, &user, id, true).await
}

#[utoipa::path(delete, path = "/api/posts/{id}/like", tag = "posts",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "Not liked (idempotent)", body = LikeState),
        (status = 404, body = ErrorBody),
    ))]
async fn unlike(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<Json<LikeState>, AppError> {
    set_like(&state, &user, id, false).await
}

#[utoipa::path(get, path = "/api/posts/{id}/link-image", tag = "posts",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "The picture of the post's link card, WebP", content_type = "image/webp"),
        (status = 404, body = ErrorBody),
    ))]
async fn link_image(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<impl IntoResponse, AppError> {
    use axum::http::header;
    let webp = crate::links::picture_of(&state.read, user.id, id)
        .await?
        .ok_or_else(|| AppError::NotFound("no link picture".into()))?;
    // Its address changes with the picture (`?v=`); private: it is shown
    // only to those who may see the post.
    Ok((
        [
            (header::CONTENT_TYPE, "image/webp"),
            (header::CACHE_CONTROL, "private, max-age=86400"),
        ],
        webp,
    ))
}

#[utoipa::path(get, path = "/api/users/{username}/posts", tag = "posts",
    params(("username" = String, Path), PageParams),
    responses(
        (status = 200, description = "The user's posts visible to you, newest first", body = Page<PostView>),
        (status = 404, body = ErrorBody),
    ))]
async fn user_posts(
    State(state): State<AppState>,
    user: User,
    Path(username): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<JsonBytes, AppError> {
    let page = p.resolve()?;
    let author = super::relations::user_named(&state, &username).await?;
    posts_by(&state, user.id, author.id, page)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::db::reader::Reader;
    use crate::db::scratch::{Draw, add_user, fresh};
    use crate::social::post_view::fetch_posts;
    use rusqlite::{Connection, params};

    /// Schema step 18 undone.
    pub(crate) const UNDO_STEP_18: &str =
        "DROP TRIGGER post_media_count_ins; DROP TRIGGER post_media_count_del;
         ALTER TABLE posts DROP COLUMN media_count; PRAGMA user_version = 17;";

    const USERS: i64 = 4;

    /// Posts whose `media_count` is not the number of their attachments:
    /// (post, count kept, count of rows).
    fn drift(conn: &Connection) -> Vec<(i64, i64, i64)> {
        let mut st = conn
            .prepare(
                "SELECT id, media_count, n FROM
                   (SELECT id, media_count, (SELECT count(*) FROM post_media WHERE post_id = p.id) n
                    FROM posts p)
                 WHERE media_count <> n",
            )
            .expect("drift query");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("drift query")
            .collect::<Result<_, _>>()
            .expect("drift rows")
    }

    /// Every post as [`POST_SELECT`] reads it, against the attachments
    /// each one has: (post, items in its view, rows of `post_media`).
    fn shown(conn: &Connection, reader: &Reader) -> Vec<(Id, usize, usize)> {
        let sql = format!("{POST_SELECT} ORDER BY p.id");
        let views = fetch_posts(reader, &sql, [0]).expect("posts");
        views
            .into_iter()
            .map(|v| {
                let rows: i64 = conn
                    .query_row(
                        "SELECT count(*) FROM post_media WHERE post_id = ?1",
                        [v.id.0],
                        |r| r.get(0),
                    )
                    .expect("count");
                (v.id, v.media.len(), usize::try_from(rows).expect("a count"))
            })
            .collect()
    }

    /// Posting, uploading, attaching, deleting media (its attachments go
    /// by cascade), deleting posts and deleting accounts, in any order:
    /// after each step every post's count is its number of attachments,
    /// and every post read shows exactly the attachments it has.
    #[test]
    fn a_posts_media_count_follows_every_write_of_its_attachments() {
        let (_dir, path, conn) = fresh();
        for u in 1..=USERS {
            add_user(&conn, u);
        }
        let reader = Reader::open(&path).expect("reader");
        let mut draw = Draw::new(0x9e37_79b9_7f4a_7c15);
        // Posts, uploads, attachments, deleted media, deleted posts,
        // deleted accounts: how often each is drawn (of 16).
        const WEIGHTS: [i64; 6] = [4, 4, 5, 1, 1, 1];
        let mut seen = [0usize; 6];
        let mut most = 0;
        for step in 0..300 {
            let a = draw.below(USERS) + 1;
            let (pick_post, pick_media) = (draw.below(12), draw.below(12));
            let op = draw.pick(&WEIGHTS);
            let changed = match op {
                0 => conn.execute(
                    "INSERT INTO posts (author_id, body, visibility, created_at)
                     VALUES (?1, 'x', 'public', 0)",
                    [a],
                ),
                1 => conn.execute(
                    "INSERT INTO media (owner_id, status, size_bytes, created_at, updated_at)
                     VALUES (?1, 'ready', 1, 0, 0)",
                    [a],
                ),
                2 => conn.execute(
                    "INSERT OR IGNORE INTO post_media (post_id, position, media_id)
                     SELECT p.id, (SELECT count(*) FROM post_media WHERE post_id = p.id), m.id
                     FROM (SELECT id FROM posts ORDER BY id LIMIT 1 OFFSET ?1) p,
                          (SELECT id FROM media ORDER BY id LIMIT 1 OFFSET ?2) m",
                    params![pick_post, pick_media],
                ),
                3 => conn.execute(
                    "DELETE FROM media WHERE id = (SELECT id FROM media ORDER BY id LIMIT 1 OFFSET ?1)",
                    [pick_media],
                ),
                4 => conn.execute(
                    "DELETE FROM posts WHERE id = (SELECT id FROM posts ORDER BY id LIMIT 1 OFFSET ?1)",
                    [pick_post],
                ),
                _ => {
                    // An account deleted (its posts and media go by
                    // cascade) and the id taken again.
                    let n = conn
                        .execute("DELETE FROM users WHERE id = ?1", [a])
                        .expect("delete user");
                    add_user(&conn, a);
                    Ok(n)
                }
            }
            .expect("write");
            if changed > 0 {
                seen[op] += 1;
            }
            assert_eq!(drift(&conn), vec![], "after step {step} (op {op})");
            most = most.max(
                conn.query_row("SELECT max(media_count) FROM posts", [], |r| {
                    r.get::<_, Option<i64>>(0)
                })
                .expect("most")
                .unwrap_or(0),
            );
            if step % 10 == 0 {
                for (id, view, rows) in shown(&conn, &reader) {
                    assert_eq!(view, rows, "post {id:?} after step {step}");
                }
            }
        }
        assert!(
            seen.iter().all(|&n| n > 0),
            "every kind of write ran: {seen:?}"
        );
        assert!(most > 1, "some post held several items: {most}");
    }

    /// A database from before the count gets it from the attachments
    /// already there.
    #[test]
    fn the_upgrade_counts_the_attachments_already_there() {
        let (_dir, path, mut conn) = fresh();
        conn.execute_batch(UNDO_STEP_18).expect("back to step 17");
        add_user(&conn, 1);
        conn.execute_batch(
            "INSERT INTO posts (id, author_id, body, visibility, created_at)
               VALUES (1, 1, 'a', 'public', 0), (2, 1, 'b', 'public', 0), (3, 1, 'c', 'public', 0);
             INSERT INTO media (id, owner_id, status, size_bytes, created_at, updated_at)
               VALUES (1, 1, 'ready', 1, 0, 0), (2, 1, 'ready', 1, 0, 0), (3, 1, 'ready', 1, 0, 0);
             INSERT INTO post_media (post_id, position, media_id) VALUES (1, 0, 1), (1, 1, 2), (3, 0, 3);",
        )
        .expect("rows from before");
        crate::db::schema::apply(&mut conn).expect("upgrade");
        assert_eq!(drift(&conn), vec![]);
        let counts: Vec<(i64, i64)> = conn
            .prepare("SELECT id, media_count FROM posts ORDER BY id")
            .expect("counts")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("counts")
            .collect::<Result<_, _>>()
            .expect("counts");
        assert_eq!(counts, vec![(1, 2), (2, 0), (3, 1)]);
        let reader = Reader::open(&path).expect("reader");
        let media: Vec<usize> = shown(&conn, &reader).iter().map(|s| s.1).collect();
        assert_eq!(media, vec![2, 0, 1]);
    }
}
