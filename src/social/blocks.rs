//! Blocking (`blocks`).
//!
//! A block keeps two users apart whichever of them made it: it ends their
//! friendship and any pending request, and from then on neither can ask
//! the other to be friends or message them directly, and neither sees the
//! other's posts, comments or presence (the read side is in SQL:
//! [`crate::store::visibility`]). The write is [`crate::store::blocks`].
//! Group conversations both are in stay as they are: a message there is
//! to the group.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::relations::{FriendView, part, user_named, user_page};
use crate::auth::User;
use crate::auth::accounts::UserView;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, Path, Query};
use crate::state::AppState;
use crate::store::blocks::{Block, Unblock};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(block, unblock))
        .routes(routes!(list_blocked))
}

// ---- reads ----------------------------------------------------------------

// ---- handlers -------------------------------------------------------------

#[utoipa::path(put, path = "/api/users/{username}/block", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 204, description = "Blocked (also when already blocked); any friendship or pending request between you is gone"),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Blocking yourself", body = ErrorBody),
    ))]
async fn block(
    State(state): State<AppState>,
    user: User,
    Path(username): Path<String>,
) -> Result<StatusCode, AppError> {
    let other = set_block(&state, &user, &username, true).await?;
    part(&state, &user.view, &other).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Blocks or unblocks the user named `username`; answers who they are.
async fn set_block(
    state: &AppState,
    user: &User,
    username: &str,
    block: bool,
) -> Result<UserView, AppError> {
    let other = user_named(state, username).await?;
    let (user, other_id) = (user.id, other.id);
    if block {
        state
            .writer
            .run(Block {
                user,
                other: other_id,
            })
            .await?;
    } else {
        state
            .writer
            .run(Unblock {
                user,
                other: other_id,
            })
            .await?;
    }
    Ok(other)
}

#[utoipa::path(delete, path = "/api/users/{username}/block", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 204, description = "Not blocked by you any more (also when it was not)"),
        (status = 404, body = ErrorBody),
    ))]
async fn unblock(
    State(state): State<AppState>,
    user: User,
    Path(username): Path<String>,
) -> Result<StatusCode, AppError> {
    set_block(&state, &user, &username, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/blocks", tag = "users",
    params(PageParams),
    responses((status = 200, description = "Users you blocked, each with when", body = Page<FriendView>)))]
async fn list_blocked(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<FriendView>>, AppError> {
    let sql = "SELECT b.blocked_id AS key, b.created_at AS at, u.id, u.username, u.display_name, u.created_at, u.avatar_id
         FROM blocks b JOIN users u ON u.id = b.blocked_id
         WHERE b.blocker_id = ? AND b.blocked_id < ? ORDER BY b.blocked_id DESC LIMIT ?";
    Ok(Json(
        user_page(&state.read, sql, user.id, p.resolve()?).await?,
    ))
}
