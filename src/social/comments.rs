//! Comments on posts (`comments`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::posts::{History, Versioned, check_body};
use std::sync::LazyLock;

use crate::auth::User;
use crate::auth::accounts::{Author, Timestamp, UserView, author_columns};
use crate::db::reader::{ReadError, Reader, limited};
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, PageReq, Path, Query};
use crate::live::{self, Touch};
use crate::notify::{self, Kind};
use crate::state::AppState;
use crate::store::comments::{CreateComment, DeleteComment, EditComment};
use crate::store::visibility::{COMMENT_VISIBLE, VISIBLE};
use kith_core::ids::Id;

pub const MAX_BODY_CHARS: usize = 2_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(delete, edit))
        .routes(routes!(history))
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CommentView {
    pub id: Id,
    pub post_id: Id,
    pub author: UserView,
    pub body: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the text was last edited (earlier versions:
    /// `GET /api/comments/{id}/history`).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<Timestamp>,
    /// The people its text names with `@` (those who exist).
    pub mentions: Vec<String>,
}

struct CommentRow {
    id: i64,
    post_id: i64,
    body: String,
    created_at: i64,
    edited_at: Option<i64>,
    author: Author,
}

impl CommentRow {
    /// By column position, as [`COMMENT_SELECT`] lists them.
    fn read(r: &libsql::Row) -> libsql::Result<CommentRow> {
        Ok(CommentRow {
            id: r.get(0)?,
            post_id: r.get(1)?,
            body: r.get(2)?,
            created_at: r.get(3)?,
            edited_at: r.get(4)?,
            author: Author::read(r, 5)?,
        })
    }
}

impl From<CommentRow> for CommentView {
    fn from(r: CommentRow) -> Self {
        CommentView {
            id: Id(r.id),
            post_id: Id(r.post_id),
            author: r.author.into(),
            body: r.body,
            created_at: Timestamp(r.created_at),
            edited_at: r.edited_at.map(Timestamp),
            mentions: Vec::new(),
        }
    }
}

const COMMENT_SELECT: &str = concat!(
    "SELECT c.id, c.post_id, c.body, c.created_at, c.edited_at, ",
    author_columns!(),
    " FROM comments c JOIN users a ON a.id = c.author_id"
);

/// A visible post's comments, oldest first.
fn comments_of(
    db: &Reader,
    reader: Id,
    post: Id,
    page: PageReq,
) -> Result<Page<CommentView>, ReadError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{COMMENT_SELECT} WHERE c.post_id = ?2 AND c.id > ?3 AND {COMMENT_VISIBLE} \
             ORDER BY c.id"
        )
    });
    let params = [reader.0, post.0, page.after()];
    let rows = db.all(&limited(&SQL, page.fetch()), params, CommentRow::read)?;
    let items = with_mentions(db, rows)?;
    Ok(Page::from_rows(items, page, |c| c.id))
}

/// Views of `rows`, with the people each names.
fn with_mentions(db: &Reader, rows: Vec<CommentRow>) -> Result<Vec<CommentView>, ReadError> {
    let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
    let named = super::mentions::resolve(db, &bodies)?;
    Ok(rows
        .into_iter()
        .zip(named)
        .map(|(r, mentions)| CommentView {
            mentions,
            ..CommentView::from(r)
        })
        .collect())
}

fn comment(db: &Reader, id: Id) -> Result<Option<CommentView>, ReadError> {
    static SQL: LazyLock<String> = LazyLock::new(|| format!("{COMMENT_SELECT} WHERE c.id = ?"));
    let row = db.first(&SQL, [id.0], CommentRow::read)?;
    Ok(with_mentions(db, row.into_iter().collect())?.pop())
}

/// Shows a new or edited comment to those watching its post.
async fn show_live(state: &AppState, comment: &CommentView) {
    if let Ok(value) = serde_json::to_value(comment) {
        state
            .touch(Touch::Comment {
                post: comment.post_id,
                author: comment.author.id,
                comment: value,
            })
            .await;
    }
}

/// Whether `reader` may see comment `id`: its post ([`VISIBLE`]) and it
/// ([`COMMENT_VISIBLE`]).
async fn visible_comment(pool: &SqlitePool, reader: Id, id: Id) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "SELECT 1 FROM comments c JOIN posts p ON p.id = c.post_id
         WHERE c.id = ?2 AND {COMMENT_VISIBLE} AND {VISIBLE}"
    );
    let found: Option<i64> = sqlx::query_scalar(&sql)
        .bind(reader.0)
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// 1 to 2,000 characters.
    pub body: String,
}

#[derive(Serialize, ToSchema)]
pub struct CommentResponse {
    pub comment: CommentView,
}

#[utoipa::path(post, path = "/api/posts/{id}/comments", tag = "posts",
    params(("id" = Id, Path)),
    request_body = NewComment,
    responses(
        (status = 201, body = CommentResponse),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    user: User,
    Path(post): Path<Id>,
    Json(req): Json<NewComment>,
) -> Result<impl IntoResponse, AppError> {
    check_body(&req.body, MAX_BODY_CHARS)?;
    let id = crate::db::keyed::new_id();
    let written = state
        .writer
        .run(CreateComment {
            id,
            post,
            author: user.id,
            body: req.body,
        })
        .await?;
    notify::push_all(&state, written.notified);
    let comment = comment(&state.reader, id)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("new comment not readable")))?;
    let author: Option<i64> = sqlx::query_scalar("SELECT author_id FROM posts WHERE id = ?")
        .bind(post.0)
        .fetch_optional(&state.read)
        .await?;
    if let Some(author) = author {
        notify::spawn_about(&state, Id(author), Kind::Comment, user.id, post, Some(id));
    }
    show_live(&state, &comment).await;
    if let Some(t) = live::counts(&state.read, post).await? {
        state.touch(t).await;
    }
    Ok((StatusCode::CREATED, Json(CommentResponse { comment })))
}

#[utoipa::path(get, path = "/api/posts/{id}/comments", tag = "posts",
    params(("id" = Id, Path), PageParams),
    responses(
        (status = 200, description = "Oldest first", body = Page<CommentView>),
        (status = 404, body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    user: User,
    Path(post): Path<Id>,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<CommentView>>, AppError> {
    let page = p.resolve()?;
    if super::post_view::visible_post(&state.reader, user.id, post)?.is_none() {
        return Err(AppError::not_found("post"));
    }
    Ok(Json(comments_of(&state.reader, user.id, post, page)?))
}

#[utoipa::path(delete, path = "/api/comments/{id}", tag = "posts",
    params(("id" = Id, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Neither the comment's author, the post's author nor an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<StatusCode, AppError> {
    let post: Option<i64> = sqlx::query_scalar("SELECT post_id FROM comments WHERE id = ?")
        .bind(id.0)
        .fetch_optional(&state.read)
        .await?;
    state
        .writer
        .run(DeleteComment { id, user: user.id })
        .await?;
    if let Some(post) = post.map(Id) {
        state
            .touch(Touch::CommentRemoved { post, comment: id })
            .await;
        if let Some(t) = live::counts(&state.read, post).await? {
            state.touch(t).await;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(patch, path = "/api/comments/{id}", tag = "posts",
    params(("id" = Id, Path)),
    request_body = NewComment,
    responses(
        (status = 200, description = "Edited (the same text again changes nothing)", body = CommentResponse),
        (status = 403, description = "Not the author", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn edit(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
    Json(req): Json<NewComment>,
) -> Result<Json<CommentResponse>, AppError> {
    check_body(&req.body, MAX_BODY_CHARS)?;
    let edited = state
        .writer
        .run(EditComment {
            id,
            user: user.id,
            body: req.body,
        })
        .await?;
    notify::push_all(&state, edited.notified);
    let comment = comment(&state.reader, id)?.ok_or_else(|| AppError::not_found("comment"))?;
    if edited.changed {
        show_live(&state, &comment).await;
    }
    Ok(Json(CommentResponse { comment }))
}

#[utoipa::path(get, path = "/api/comments/{id}/history", tag = "posts",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "The earlier versions of the text", body = History),
        (status = 404, description = "No such comment, or not visible to you", body = ErrorBody),
    ))]
async fn history(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<Json<History>, AppError> {
    if !visible_comment(&state.read, user.id, id).await? {
        return Err(AppError::not_found("comment"));
    }
    Ok(Json(
        History::of(&state.read, Versioned::Comment, id).await?,
    ))
}
