//! Muting (`mutes`): the muted user's posts leave your feed and they cause
//! you no notifications (`crate::store::notifications::insert`). Unlike a
//! block nothing changes for them: they still see you, and cannot tell.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::relations::{FriendView, user_named, user_page};
use crate::auth::User;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, Path, Query};
use crate::state::AppState;
use crate::store::mutes::SetMute;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mute, unmute))
        .routes(routes!(list_muted))
}

/// Whether `muter` muted `muted`.
pub async fn has_muted(
    pool: &sqlx::SqlitePool,
    muter: kith_core::ids::Id,
    muted: kith_core::ids::Id,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM mutes WHERE muter_id = ? AND muted_id = ?")
            .bind(muter.0)
            .bind(muted.0)
            .fetch_optional(pool)
            .await?;
    Ok(found.is_some())
}

async fn set_mute(
    state: &AppState,
    user: &User,
    username: &str,
    mute: bool,
) -> Result<(), AppError> {
    let other = user_named(state, username).await?;
    state
        .writer
        .run(SetMute {
            muter: user.id,
            muted: other.id,
            mute,
        })
        .await?;
    Ok(())
}

#[utoipa::path(put, path = "/api/users/{username}/mute", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 204, description = "Muted (also when already muted)"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Muting yourself", body = ErrorBody),
    ))]
async fn mute(
    State(state): State<AppState>,
    user: User,
    Path(username): Path<String>,
) -> Result<StatusCode, AppError> {
    set_mute(&state, &user, &username, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/users/{username}/mute", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 204, description = "Not muted any more (also when it was not)"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn unmute(
    State(state): State<AppState>,
    user: User,
    Path(username): Path<String>,
) -> Result<StatusCode, AppError> {
    set_mute(&state, &user, &username, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/mutes", tag = "users",
    params(PageParams),
    responses(
        (status = 200, description = "Users you muted, each with when", body = Page<FriendView>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn list_muted(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<FriendView>>, AppError> {
    let sql = "SELECT m.muted_id AS key, m.created_at AS at, u.id, u.username, u.display_name, u.created_at, u.avatar_id
         FROM mutes m JOIN users u ON u.id = m.muted_id
         WHERE m.muter_id = ? AND m.muted_id < ? ORDER BY m.muted_id DESC LIMIT ?";
    Ok(Json(
        user_page(&state.read, sql, user.id, p.resolve()?).await?,
    ))
}
