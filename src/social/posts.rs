//! Posts and likes (`posts`, `likes`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{IS_ADMIN, VISIBLE};
use crate::app::AppState;
use crate::auth::User;
use crate::auth::accounts::{Timestamp, UserView};
use crate::db::{CmdError, Command, Reply};
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, PageReq, Path, Query};
use crate::ids::{Id, now_ms};
use crate::notify::{self, Kind};

pub const MAX_BODY_CHARS: usize = 10_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(get_post, delete_post))
        .routes(routes!(like, unlike))
        .routes(routes!(user_posts))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Anyone signed in.
    Public,
    /// The author and their friends.
    Friends,
}

impl Visibility {
    fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Friends => "friends",
        }
    }
}

// ---- commands -------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Cmd {
    Create {
        id: Id,
        author: Id,
        body: String,
        visibility: Visibility,
        /// A video of the author's to attach.
        #[serde(default)]
        media: Option<Id>,
    },
    Delete {
        id: Id,
        user: Id,
    },
    Like {
        post: Id,
        user: Id,
    },
    Unlike {
        post: Id,
        user: Id,
    },
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

impl Cmd {
    pub fn apply(self, conn: &Connection) -> Result<Reply, CmdError> {
        match self {
            Cmd::Create {
                id,
                author,
                body,
                visibility,
                media,
            } => {
                if let Some(m) = media {
                    let mine = conn
                        .prepare_cached("SELECT 1 FROM media WHERE id = ? AND owner_id = ?")?
                        .exists(params![m.0, author.0])?;
                    if !mine {
                        return Err(CmdError::Invalid(
                            "media_id names no upload of yours".into(),
                        ));
                    }
                }
                conn.prepare_cached(
                    "INSERT INTO posts (id, author_id, body, visibility, created_at, media_id)
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    id.0,
                    author.0,
                    body,
                    visibility.as_str(),
                    now_ms(),
                    media.map(|m| m.0)
                ])?;
                Ok(Reply::Id(id))
            }
            Cmd::Delete { id, user } => {
                // An admin may remove any post, seen or not.
                let sql = format!(
                    "SELECT p.author_id, {VISIBLE}, {IS_ADMIN} FROM posts p WHERE p.id = ?2"
                );
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
                Ok(Reply::Done)
            }
            Cmd::Like { post, user } => {
                visible_author(conn, user, post)?;
                let n = conn
                    .prepare_cached(
                        "INSERT OR IGNORE INTO likes (post_id, user_id, created_at) VALUES (?, ?, ?)",
                    )?
                    .execute(params![post.0, user.0, now_ms()])?;
                Ok(Reply::Changed(n == 1))
            }
            Cmd::Unlike { post, user } => {
                visible_author(conn, user, post)?;
                let n = conn
                    .prepare_cached("DELETE FROM likes WHERE post_id = ? AND user_id = ?")?
                    .execute(params![post.0, user.0])?;
                Ok(Reply::Changed(n == 1))
            }
        }
    }
}

// ---- reads ----------------------------------------------------------------

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
    /// An attached video: see `GET /api/media/{id}`.
    pub media_id: Option<Id>,
}

/// A row of [`POST_SELECT`].
#[derive(sqlx::FromRow)]
pub struct PostRow {
    id: i64,
    body: String,
    visibility: String,
    created_at: i64,
    like_count: i64,
    comment_count: i64,
    liked_by_me: bool,
    media_id: Option<i64>,
    a_id: i64,
    a_username: String,
    a_display_name: String,
    a_created_at: i64,
}

impl From<PostRow> for PostView {
    fn from(r: PostRow) -> Self {
        PostView {
            id: Id(r.id),
            author: UserView {
                id: Id(r.a_id),
                username: r.a_username,
                display_name: r.a_display_name,
                created_at: Timestamp(r.a_created_at),
            },
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
            media_id: r.media_id.map(Id),
        }
    }
}

/// Columns and joins for a `PostView` of post `p` read by user `?1`.
pub const POST_SELECT: &str = "SELECT p.id, p.body, p.visibility, p.created_at, p.like_count, \
     p.comment_count, \
     EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.user_id = ?1) AS liked_by_me, \
     p.media_id, \
     a.id AS a_id, a.username AS a_username, a.display_name AS a_display_name, \
     a.created_at AS a_created_at \
     FROM posts p JOIN users a ON a.id = p.author_id";

/// Runs a post query built on [`POST_SELECT`].
pub async fn fetch_posts<'q>(
    pool: &SqlitePool,
    query: sqlx::query::QueryAs<'q, sqlx::Sqlite, PostRow, sqlx::sqlite::SqliteArguments<'q>>,
) -> Result<Vec<PostView>, sqlx::Error> {
    let rows = query.fetch_all(pool).await?;
    Ok(rows.into_iter().map(PostView::from).collect())
}

pub async fn visible_post(
    pool: &SqlitePool,
    reader: Id,
    id: Id,
) -> Result<Option<PostView>, sqlx::Error> {
    let sql = format!("{POST_SELECT} WHERE p.id = ?2 AND {VISIBLE}");
    let q = sqlx::query_as(&sql).bind(reader.0).bind(id.0);
    Ok(fetch_posts(pool, q).await?.pop())
}

async fn posts_by(
    pool: &SqlitePool,
    reader: Id,
    author: Id,
    page: PageReq,
) -> Result<Page<PostView>, sqlx::Error> {
    let sql = format!(
        "{POST_SELECT} WHERE p.author_id = ?2 AND p.id < ?3 AND {VISIBLE} ORDER BY p.id DESC LIMIT ?4"
    );
    let q = sqlx::query_as(&sql)
        .bind(reader.0)
        .bind(author.0)
        .bind(page.before())
        .bind(page.fetch());
    Ok(Page::from_rows(fetch_posts(pool, q).await?, page, |p| p.id))
}

// ---- handlers -------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// 1 to 10,000 characters.
    pub body: String,
    /// `public` (default) or `friends`.
    pub visibility: Option<Visibility>,
    /// An upload of yours (`POST /api/media`) to attach; it may still be
    /// transcoding.
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
        (status = 422, description = "Empty or too long", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    user: User,
    Json(req): Json<NewPost>,
) -> Result<impl IntoResponse, AppError> {
    check_body(&req.body, MAX_BODY_CHARS)?;
    let id = Id::generate();
    state
        .writer
        .exec(Command::Posts(Cmd::Create {
            id,
            author: user.id,
            body: req.body,
            visibility: req.visibility.unwrap_or(Visibility::Public),
            media: req.media_id,
        }))
        .await?;
    let post = visible_post(&state.read, user.id, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("new post not readable")))?;
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
    let post = visible_post(&state.read, user.id, id)
        .await?
        .ok_or_else(|| AppError::not_found("post"))?;
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
    state
        .writer
        .exec(Command::Posts(Cmd::Delete { id, user: user.id }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
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
    let cmd = if liked {
        Cmd::Like {
            post,
            user: user.id,
        }
    } else {
        Cmd::Unlike {
            post,
            user: user.id,
        }
    };
    let reply = state.writer.exec(Command::Posts(cmd)).await?;
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT like_count, author_id FROM posts WHERE id = ?")
            .bind(post.0)
            .fetch_optional(&state.read)
            .await?;
    let (like_count, author) = row.ok_or_else(|| AppError::not_found("post"))?;
    if liked && reply == Reply::Changed(true) {
        notify::spawn(state, Id(author), Kind::Like, user.id, post);
    }
    Ok(Json(LikeState { liked, like_count }))
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
) -> Result<Json<Page<PostView>>, AppError> {
    let page = p.resolve()?;
    let author = super::friends::user_named(&state, &username).await?;
    Ok(Json(posts_by(&state.read, user.id, author.id, page).await?))
}
