//! Friend requests and friendships (`friend_requests`, `friendships`).
//!
//! A request is a row until it is answered; accepting turns it into a
//! friendship stored in both directions. Asking someone who has already
//! asked you accepts their request.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::relations::{FriendView, UserPairRow, user_named, user_page};
use crate::auth::User;
use crate::auth::accounts::{Timestamp, UserView};
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, PageReq, Path, Query};
use crate::notify::{self, Kind};
use crate::state::AppState;
use crate::store::friends::{Answer, Cancel, RequestSent, SendRequest, Unfriend};
use kith_core::ids::Id;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_request, list_requests))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(cancel))
        .routes(routes!(list_friends))
        .routes(routes!(get_friend, unfriend))
}

// ---- reads ----------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct FriendRequestView {
    pub id: Id,
    /// The other party: the sender of an incoming request, the addressee of
    /// an outgoing one.
    pub user: UserView,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

async fn requests(
    pool: &SqlitePool,
    me: Id,
    outgoing: bool,
    page: PageReq,
) -> Result<Page<FriendRequestView>, sqlx::Error> {
    let (mine, theirs) = if outgoing {
        ("from_user", "to_user")
    } else {
        ("to_user", "from_user")
    };
    let sql = format!(
        "SELECT r.id AS key, r.created_at AS at, u.id, u.username, u.display_name, u.created_at, u.avatar_id
         FROM friend_requests r JOIN users u ON u.id = r.{theirs}
         WHERE r.{mine} = ? AND r.id < ? ORDER BY r.id DESC LIMIT ?"
    );
    let rows: Vec<UserPairRow> = sqlx::query_as(&sql)
        .bind(me.0)
        .bind(page.before())
        .bind(page.fetch())
        .fetch_all(pool)
        .await?;
    let items = rows
        .iter()
        .map(|r| FriendRequestView {
            id: Id(r.key),
            user: r.user(),
            created_at: Timestamp(r.at),
        })
        .collect();
    Ok(Page::from_rows(items, page, |r| r.id))
}

async fn friends(
    pool: &SqlitePool,
    me: Id,
    page: PageReq,
) -> Result<Page<FriendView>, sqlx::Error> {
    let sql = "SELECT f.friend_id AS key, f.created_at AS at, u.id, u.username, u.display_name, u.created_at, u.avatar_id
         FROM friendships f JOIN users u ON u.id = f.friend_id
         WHERE f.user_id = ? AND f.friend_id < ? ORDER BY f.friend_id DESC LIMIT ?";
    user_page(pool, sql, me, page).await
}

// ---- handlers -------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FriendRequestBody {
    pub username: String,
}

#[derive(Serialize, ToSchema)]
pub struct FriendRequestCreated {
    pub id: Id,
    /// `pending`, or `accepted` when the other user had already asked you.
    pub status: &'static str,
}

#[utoipa::path(post, path = "/api/friends/requests", tag = "friends",
    request_body = FriendRequestBody,
    responses(
        (status = 201, body = FriendRequestCreated),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Already friends, already asked, or you blocked them", body = ErrorBody),
        (status = 422, description = "Asking yourself", body = ErrorBody),
    ))]
async fn send_request(
    State(state): State<AppState>,
    user: User,
    Json(req): Json<FriendRequestBody>,
) -> Result<impl IntoResponse, AppError> {
    let to = user_named(&state, &req.username).await?;
    let RequestSent { id, accepted } = state
        .writer
        .run(SendRequest {
            id: crate::db::keyed::new_id(),
            from: user.id,
            to: to.id,
        })
        .await?;
    let kind = if accepted {
        Kind::FriendAccepted
    } else {
        Kind::FriendRequest
    };
    notify::spawn(&state, to.id, kind, user.id, id);
    let status = if accepted { "accepted" } else { "pending" };
    Ok((
        StatusCode::CREATED,
        Json(FriendRequestCreated { id, status }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestsParams {
    /// `incoming` (default) or `outgoing`.
    pub direction: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/friends/requests", tag = "friends",
    params(RequestsParams),
    responses((status = 200, description = "Pending requests, newest first", body = Page<FriendRequestView>)))]
async fn list_requests(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<RequestsParams>,
) -> Result<Json<Page<FriendRequestView>>, AppError> {
    let outgoing = match q.direction.as_deref() {
        None | Some("incoming") => false,
        Some("outgoing") => true,
        Some(_) => {
            return Err(AppError::BadRequest(
                "direction must be incoming or outgoing".into(),
            ));
        }
    };
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    Ok(Json(requests(&state.read, user.id, outgoing, page).await?))
}

async fn answer(
    state: &AppState,
    user: &User,
    id: Id,
    accept: bool,
) -> Result<StatusCode, AppError> {
    let from = state
        .writer
        .run(Answer {
            id,
            user: user.id,
            accept,
        })
        .await?;
    if accept {
        notify::spawn(state, from, Kind::FriendAccepted, user.id, id);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/friends/requests/{id}/accept", tag = "friends",
    params(("id" = Id, Path)),
    responses(
        (status = 204, description = "Now friends"),
        (status = 403, description = "Only the addressee may accept", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn accept(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<StatusCode, AppError> {
    answer(&state, &user, id, true).await
}

#[utoipa::path(post, path = "/api/friends/requests/{id}/decline", tag = "friends",
    params(("id" = Id, Path)),
    responses(
        (status = 204, description = "Declined"),
        (status = 403, description = "Only the addressee may decline", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn decline(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<StatusCode, AppError> {
    answer(&state, &user, id, false).await
}

#[utoipa::path(delete, path = "/api/friends/requests/{id}", tag = "friends",
    params(("id" = Id, Path)),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 403, description = "Only the sender may withdraw", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn cancel(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<StatusCode, AppError> {
    state.writer.run(Cancel { id, user: user.id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/friends", tag = "friends",
    params(PageParams),
    responses((status = 200, body = Page<FriendView>)))]
async fn list_friends(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<FriendView>>, AppError> {
    Ok(Json(friends(&state.read, user.id, p.resolve()?).await?))
}

#[utoipa::path(get, path = "/api/friends/{username}", tag = "friends",
    params(("username" = String, Path)),
    responses(
        (status = 200, body = FriendView),
        (status = 404, description = "No such user, or not a friend", body = ErrorBody),
    ))]
async fn get_friend(
    State(state): State<AppState>,
    user: User,
    Path(username): Path<String>,
) -> Result<Json<FriendView>, AppError> {
    let other = user_named(&state, &username).await?;
    let since: Option<i64> = sqlx::query_scalar(
        "SELECT created_at FROM friendships WHERE user_id = ? AND friend_id = ?",
    )
    .bind(user.id.0)
    .bind(other.id.0)
    .fetch_optional(&state.read)
    .await?;
    let since = since.ok_or_else(|| AppError::NotFound("not friends".into()))?;
    Ok(Json(FriendView {
        user: other,
        since: Timestamp(since),
    }))
}

#[utoipa::path(delete, path = "/api/friends/{username}", tag = "friends",
    params(("username" = String, Path)),
    responses(
        (status = 204, description = "No longer friends"),
        (status = 404, description = "No such user, or not a friend", body = ErrorBody),
    ))]
async fn unfriend(
    State(state): State<AppState>,
    user: User,
    Path(username): Path<String>,
) -> Result<StatusCode, AppError> {
    let other = user_named(&state, &username).await?;
    state
        .writer
        .run(Unfriend {
            user: user.id,
            other: other.id,
        })
        .await?;
    super::relations::part(&state, &user.view, &other).await;
    Ok(StatusCode::NO_CONTENT)
}
