//! Profiles: `GET /api/users/{username}`.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::relations::{Relationship, has_blocked, relationship, user_named};
use crate::auth::User;
use crate::auth::accounts::{self, UserView};
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Path};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(profile))
}

#[derive(Serialize, ToSchema)]
pub struct Profile {
    pub user: UserView,
    pub bio: String,
    pub friend_count: i64,
    pub post_count: i64,
    /// How you stand with this user.
    pub relationship: Relationship,
    /// You muted them (they cannot tell).
    pub muted: bool,
}

#[utoipa::path(get, path = "/api/users/{username}", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 200, body = Profile),
        (status = 404, description = "No such user, or they blocked you", body = ErrorBody),
    ))]
async fn profile(
    State(state): State<AppState>,
    me: User,
    Path(username): Path<String>,
) -> Result<Json<Profile>, AppError> {
    let user = user_named(&state, &username).await?;
    // Someone who blocked you is not there for you.
    if has_blocked(&state.read, user.id, me.id).await? {
        return Err(AppError::not_found("user"));
    }
    let (friend_count, post_count) = accounts::counts(&state.read, user.id).await?;
    let relationship = relationship(&state.read, me.id, user.id).await?;
    let muted = super::mutes::has_muted(&state.read, me.id, user.id).await?;
    let bio: String = sqlx::query_scalar("SELECT bio FROM users WHERE id = ?")
        .bind(user.id.0)
        .fetch_optional(&state.read)
        .await?
        .unwrap_or_default();
    Ok(Json(Profile {
        user,
        bio,
        muted,
        friend_count,
        post_count,
        relationship,
    }))
}
