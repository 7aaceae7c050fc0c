//! Where an account is signed in: `GET /api/me/sessions` lists every
//! browser session and app token with its device, coarse address, and
//! times; `DELETE /api/me/sessions/{id}` ends one. Sessions are named by a
//! public handle derived from their secret id
//! ([`kith_core::device::session_handle`]), so the secret never reaches a
//! page's script.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use sqlx::SqlitePool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::User;
use super::accounts::Timestamp;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Path};
use crate::state::AppState;
use crate::store::sessions::EndSession;
use kith_core::device::session_handle;
use kith_core::ids::Id;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(end))
}

/// One session or token.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: Id,
    /// `browser` or `token`.
    pub kind: String,
    pub device: String,
    /// IPv4 /24 or IPv6 /48 of its last use.
    pub address: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// To the hour: a session's record is rewritten at most hourly.
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: Timestamp,
    /// The session of this request.
    pub current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

/// A live session of a user: its secret id and what is shown of it.
pub struct Row {
    pub session_id: String,
    pub view: SessionView,
}

/// The live sessions of `user`, most recently used first.
pub async fn of_user(
    pool: &SqlitePool,
    user: Id,
    current: Option<&str>,
) -> Result<Vec<Row>, sqlx::Error> {
    let rows: Vec<(String, String, String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT session_id, kind, device, address, created_at, last_seen_at
         FROM user_sessions WHERE user_id = ? AND expiry_date > ?
         ORDER BY coalesce(last_seen_at, created_at) DESC",
    )
    .bind(user.0)
    .bind(kith_core::ids::now_ms())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(session_id, kind, device, address, created, seen)| Row {
            view: SessionView {
                id: session_handle(&session_id),
                kind,
                device: if device.is_empty() {
                    "Unknown device".into()
                } else {
                    device
                },
                address,
                created_at: Timestamp(created),
                last_seen_at: Timestamp(seen.unwrap_or(created)),
                current: current == Some(session_id.as_str()),
            },
            session_id,
        })
        .collect())
}

/// Whether `handle` names a live session of `user` (a connection opened
/// under it may stay open).
pub async fn is_live(pool: &SqlitePool, user: Id, handle: Id) -> Result<bool, sqlx::Error> {
    Ok(of_user(pool, user, None)
        .await?
        .iter()
        .any(|r| r.view.id == handle))
}

#[utoipa::path(get, path = "/api/me/sessions", tag = "auth",
    responses(
        (status = 200, description = "Every session and app token of this account", body = SessionList),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn list(State(state): State<AppState>, user: User) -> Result<Json<SessionList>, AppError> {
    let current = user.session.id().map(|id| id.to_string());
    let sessions = of_user(&state.read, user.id, current.as_deref())
        .await?
        .into_iter()
        .map(|r| r.view)
        .collect();
    Ok(Json(SessionList { sessions }))
}

#[utoipa::path(delete, path = "/api/me/sessions/{id}", tag = "auth",
    params(("id" = Id, Path)),
    responses(
        (status = 204, description = "The session ended; its sockets close on every node within a second"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such session of this account", body = ErrorBody),
    ))]
async fn end(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<StatusCode, AppError> {
    let current = user.session.id().map(|id| id.to_string());
    let Some(row) = of_user(&state.read, user.id, current.as_deref())
        .await?
        .into_iter()
        .find(|r| r.view.id == id)
    else {
        return Err(AppError::not_found("session"));
    };
    state
        .writer
        .run(EndSession {
            user: user.id,
            session_id: row.session_id.clone(),
        })
        .await?;
    state.sessions.forget(&row.session_id).await;
    if row.view.current {
        // Ending this very session is signing out: clear its cookie too.
        user.session
            .flush()
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    Ok(StatusCode::NO_CONTENT)
}
