//! Reports: `POST /api/reports` files one about a post, comment, user or
//! chat message the reporter can see; `GET /api/me/reports` shows the
//! reporter what came of theirs. Admins resolve them in the console
//! (`crate::console::reports`).
//!
//! A report of a message keeps a copy of that one message (admins cannot
//! read conversations they are not in; the copy is what the reporter
//! chose to show them).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::User;
use crate::auth::accounts::{Timestamp, USER_COLUMNS, UserView};
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, PageReq, Query};
use crate::state::AppState;
use crate::store::reports::{CreateReport, Subject};
use crate::store::visibility::{COMMENT_VISIBLE, MEMBER_READS, NOT_BLOCKED_BY, VISIBLE};
use kith_core::ids::{Id, now_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(mine))
}

/// Reports one person may file in an hour: more than anyone meets in a
/// bad hour, too few to bury the admins' queue.
pub const PER_HOUR: i64 = 10;
/// What a note may hold.
const MAX_NOTE_CHARS: usize = 1000;
/// Why something is reported.
pub const REASONS: [&str; 6] = ["spam", "harassment", "hate", "violence", "illegal", "other"];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    pub kind: Subject,
    /// The post's, comment's, user's or message's id.
    pub id: Id,
    /// spam, harassment, hate, violence, illegal or other.
    pub reason: String,
    /// At most 1000 characters.
    pub note: Option<String>,
}

/// What a report was about, as admins see it.
#[derive(Serialize, ToSchema)]
pub struct ReportedContent {
    pub body: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Serialize, ToSchema)]
pub struct ReportView {
    pub id: Id,
    pub kind: Subject,
    pub subject_id: Id,
    pub reason: String,
    pub note: String,
    /// `open` or `resolved`.
    pub status: String,
    /// dismissed, removed or banned, once resolved.
    pub outcome: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    pub reporter: Option<UserView>,
    pub author: Option<UserView>,
    /// The reported text as it is now (a message: as reported); null once
    /// removed, and for a user.
    pub content: Option<ReportedContent>,
    pub resolved_by: Option<UserView>,
}

#[derive(Serialize, ToSchema)]
pub struct ReportResponse {
    pub report: ReportView,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    subject_kind: String,
    subject_id: i64,
    reason: String,
    note: String,
    status: String,
    outcome: Option<String>,
    created_at: i64,
    resolved_at: Option<i64>,
    reporter_id: Option<i64>,
    author_id: Option<i64>,
    resolved_by: Option<i64>,
    snapshot: Option<String>,
}

/// Reports, newest first: `filter` is the SQL condition (on `r`, with
/// `?1` bound to `arg`).
pub async fn page(
    pool: &SqlitePool,
    filter: &str,
    arg: &str,
    page: PageReq,
) -> Result<Page<ReportView>, sqlx::Error> {
    let sql = format!(
        "SELECT id, subject_kind, subject_id, reason, note, status, outcome, created_at,
                resolved_at, reporter_id, author_id, resolved_by, snapshot
         FROM reports r WHERE {filter} AND r.id < ?2 ORDER BY r.id DESC LIMIT ?3"
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(arg)
        .bind(page.before())
        .bind(page.fetch())
        .fetch_all(pool)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        items.push(view(pool, r).await?);
    }
    Ok(Page::from_rows(items, page, |r| r.id))
}

/// One report.
pub async fn one(pool: &SqlitePool, id: Id) -> Result<Option<ReportView>, sqlx::Error> {
    let p = page(
        pool,
        "r.id = CAST(?1 AS INTEGER)",
        &id.0.to_string(),
        PageReq {
            limit: 1,
            cursor: None,
        },
    )
    .await?;
    Ok(p.items.into_iter().next())
}

async fn user(pool: &SqlitePool, id: Option<i64>) -> Result<Option<UserView>, sqlx::Error> {
    match id {
        None => Ok(None),
        Some(id) => {
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
                .bind(id)
                .fetch_optional(pool)
                .await
        }
    }
}

async fn view(pool: &SqlitePool, r: Row) -> Result<ReportView, sqlx::Error> {
    let kind = Subject::parse(&r.subject_kind).unwrap_or(Subject::User);
    let content: Option<(String, i64)> = match kind {
        Subject::Post => {
            sqlx::query_as("SELECT body, created_at FROM posts WHERE id = ?")
                .bind(r.subject_id)
                .fetch_optional(pool)
                .await?
        }
        Subject::Comment => {
            sqlx::query_as("SELECT body, created_at FROM comments WHERE id = ?")
                .bind(r.subject_id)
                .fetch_optional(pool)
                .await?
        }
        Subject::Message => r.snapshot.as_deref().and_then(|s| {
            let v: serde_json::Value = serde_json::from_str(s).ok()?;
            Some((v["body"].as_str()?.to_owned(), v["created_at"].as_i64()?))
        }),
        Subject::User => None,
    };
    Ok(ReportView {
        id: Id(r.id),
        kind,
        subject_id: Id(r.subject_id),
        reason: r.reason,
        note: r.note,
        status: r.status,
        outcome: r.outcome,
        created_at: Timestamp(r.created_at),
        resolved_at: r.resolved_at.map(Timestamp),
        reporter: user(pool, r.reporter_id).await?,
        author: user(pool, r.author_id).await?,
        content: content.map(|(body, at)| ReportedContent {
            body,
            created_at: Timestamp(at),
        }),
        resolved_by: user(pool, r.resolved_by).await?,
    })
}

/// The author of what `reporter` reports, if they can see it (404
/// otherwise), and the copy kept of a message.
async fn subject(
    pool: &SqlitePool,
    reporter: Id,
    kind: Subject,
    id: Id,
) -> Result<(Option<Id>, Option<String>), AppError> {
    let not_found = || AppError::not_found(kind.as_str());
    let author: Option<i64> = match kind {
        Subject::Post => sqlx::query_scalar(&format!(
            "SELECT p.author_id FROM posts p WHERE p.id = ?2 AND {VISIBLE}"
        ))
        .bind(reporter.0)
        .bind(id.0)
        .fetch_optional(pool)
        .await?
        .ok_or_else(not_found)?,
        Subject::Comment => sqlx::query_scalar(&format!(
            "SELECT c.author_id FROM comments c JOIN posts p ON p.id = c.post_id
             WHERE c.id = ?2 AND {VISIBLE} AND {COMMENT_VISIBLE}"
        ))
        .bind(reporter.0)
        .bind(id.0)
        .fetch_optional(pool)
        .await?
        .ok_or_else(not_found)?,
        Subject::User => sqlx::query_scalar(&format!(
            "SELECT u.id FROM users u WHERE u.id = ?2 AND {NOT_BLOCKED_BY}"
        ))
        .bind(reporter.0)
        .bind(id.0)
        .fetch_optional(pool)
        .await?
        .ok_or_else(not_found)?,
        Subject::Message => {
            let row: Option<(Option<i64>, String, i64, i64)> = sqlx::query_as(&format!(
                "SELECT mg.sender_id, mg.body, mg.created_at, mg.conversation_id FROM messages mg
                 JOIN conversation_members cm
                   ON cm.conversation_id = mg.conversation_id AND cm.user_id = ?1
                 WHERE mg.id = ?2 AND mg.kind = 'message' AND {MEMBER_READS}"
            ))
            .bind(reporter.0)
            .bind(id.0)
            .fetch_optional(pool)
            .await?;
            let (sender, body, at, conversation) = row.ok_or_else(not_found)?;
            let snapshot = serde_json::json!({
                "body": body,
                "created_at": at,
                "conversation_id": Id(conversation),
                "sender_id": sender.map(Id),
            })
            .to_string();
            if sender == Some(reporter.0) {
                return Err(AppError::invalid("you cannot report your own message"));
            }
            return Ok((sender.map(Id), Some(snapshot)));
        }
    };
    if author == Some(reporter.0) {
        return Err(AppError::invalid(
            "you cannot report yourself or what you wrote",
        ));
    }
    Ok((author.map(Id), None))
}

#[utoipa::path(post, path = "/api/reports", tag = "community",
    request_body = NewReport,
    responses(
        (status = 201, description = "Filed (the same report again answers the first)", body = ReportResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such content, or you cannot see it", body = ErrorBody),
        (status = 422, description = "A bad reason or note, or your own content", body = ErrorBody),
        (status = 429, description = "More than 10 reports within an hour; see Retry-After", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    user: User,
    Json(req): Json<NewReport>,
) -> Result<(StatusCode, Json<ReportResponse>), AppError> {
    if !REASONS.contains(&req.reason.as_str()) {
        return Err(AppError::invalid(format!(
            "reason must be one of {}",
            REASONS.join(", ")
        )));
    }
    let note = req.note.as_deref().unwrap_or("").trim().to_owned();
    if note.chars().count() > MAX_NOTE_CHARS || note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid(format!(
            "note must be at most {MAX_NOTE_CHARS} characters"
        )));
    }
    let (author, snapshot) = subject(&state.read, user.id, req.kind, req.id).await?;
    let hour_ago = now_ms() - 3600 * 1000;
    let (recent, oldest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*), min(created_at) FROM reports WHERE reporter_id = ? AND created_at > ?",
    )
    .bind(user.id.0)
    .bind(hour_ago)
    .fetch_one(&state.read)
    .await?;
    if recent >= PER_HOUR {
        let wait_ms = oldest
            .map(|o| o - hour_ago)
            .unwrap_or(3600 * 1000)
            .max(1000);
        return Err(AppError::RateLimited {
            message: format!("at most {PER_HOUR} reports an hour; try again later"),
            retry_after: std::time::Duration::from_millis(wait_ms as u64),
        });
    }
    let id = state
        .writer
        .run(CreateReport {
            id: crate::db::keyed::new_id(),
            reporter: user.id,
            subject: req.kind,
            subject_id: req.id,
            author,
            reason: req.reason,
            note,
            snapshot,
        })
        .await?;
    let report = one(&state.read, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("new report not readable")))?;
    Ok((StatusCode::CREATED, Json(ReportResponse { report })))
}

#[utoipa::path(get, path = "/api/me/reports", tag = "community",
    params(PageParams),
    responses(
        (status = 200, description = "Your reports, newest first, with their outcome", body = Page<ReportView>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn mine(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<ReportView>>, AppError> {
    let filter = "r.reporter_id = CAST(?1 AS INTEGER)";
    Ok(Json(
        page(&state.read, filter, &user.id.0.to_string(), p.resolve()?).await?,
    ))
}
