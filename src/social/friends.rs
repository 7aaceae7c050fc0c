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

use crate::auth::User;
use crate::auth::accounts::{self, Timestamp, UserView};
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, PageReq, Path, Query};
use crate::ids::Id;
use crate::notify::{self, Kind};
use crate::state::AppState;
use crate::store::friends::{Answer, Cancel, RequestSent, SendRequest, Unfriend};
use crate::store::relations::ARE_FRIENDS;

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

pub async fn are_friends(pool: &SqlitePool, a: Id, b: Id) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(ARE_FRIENDS)
        .bind(a.0)
        .bind(b.0)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// How `me` stands with `other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    #[serde(rename = "self")]
    Self_,
    Friends,
    /// You blocked this user.
    Blocked,
    RequestSent,
    RequestReceived,
    None,
}

pub async fn relationship(
    pool: &SqlitePool,
    me: Id,
    other: Id,
) -> Result<Relationship, sqlx::Error> {
    if me == other {
        return Ok(Relationship::Self_);
    }
    if super::blocks::has_blocked(pool, me, other).await? {
        return Ok(Relationship::Blocked);
    }
    if are_friends(pool, me, other).await? {
        return Ok(Relationship::Friends);
    }
    let dir: Option<i64> = sqlx::query_scalar(
        "SELECT from_user FROM friend_requests
         WHERE (from_user = ?1 AND to_user = ?2) OR (from_user = ?2 AND to_user = ?1)",
    )
    .bind(me.0)
    .bind(other.0)
    .fetch_optional(pool)
    .await?;
    Ok(match dir {
        Some(f) if f == me.0 => Relationship::RequestSent,
        Some(_) => Relationship::RequestReceived,
        None => Relationship::None,
    })
}

#[derive(Serialize, ToSchema)]
pub struct FriendRequestView {
    pub id: Id,
    /// The other party: the sender of an incoming request, the addressee of
    /// an outgoing one.
    pub user: UserView,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// Another user, and since when they relate to you so (friends since;
/// blocked since).
#[derive(Serialize, ToSchema)]
pub struct FriendView {
    pub user: UserView,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

/// A user with the key and time of how they relate to another (a
/// request, a friendship, a block).
#[derive(sqlx::FromRow)]
struct UserPairRow {
    key: i64,
    at: i64,
    id: i64,
    username: String,
    display_name: String,
    created_at: i64,
}

impl UserPairRow {
    fn user(&self) -> UserView {
        UserView {
            id: Id(self.id),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            created_at: Timestamp(self.created_at),
        }
    }
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
        "SELECT r.id AS key, r.created_at AS at, u.id, u.username, u.display_name, u.created_at
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

/// A page of the users related to `me` as `sql` selects them: a
/// [`UserPairRow`] keyed by the other user's id, given `me`, the cursor and
/// the limit, newest key first.
pub(super) async fn user_page(
    pool: &SqlitePool,
    sql: &str,
    me: Id,
    page: PageReq,
) -> Result<Page<FriendView>, sqlx::Error> {
    let rows: Vec<UserPairRow> = sqlx::query_as(sql)
        .bind(me.0)
        .bind(page.before())
        .bind(page.fetch())
        .fetch_all(pool)
        .await?;
    let items = rows
        .iter()
        .map(|r| FriendView {
            user: r.user(),
            since: Timestamp(r.at),
        })
        .collect();
    Ok(Page::from_rows(items, page, |f| f.user.id))
}

async fn friends(
    pool: &SqlitePool,
    me: Id,
    page: PageReq,
) -> Result<Page<FriendView>, sqlx::Error> {
    let sql = "SELECT f.friend_id AS key, f.created_at AS at, u.id, u.username, u.display_name, u.created_at
         FROM friendships f JOIN users u ON u.id = f.friend_id
         WHERE f.user_id = ? AND f.friend_id < ? ORDER BY f.friend_id DESC LIMIT ?";
    user_page(pool, sql, me, page).await
}

// ---- handlers -------------------------------------------------------------

/// Resolves a username to its user, or 404.
pub async fn user_named(state: &AppState, username: &str) -> Result<UserView, AppError> {
    accounts::by_username(&state.read, username)
        .await?
        .ok_or_else(|| AppError::not_found("user"))
}

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
            id: Id::generate(),
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
    super::blocks::part(&state, &user.view, &other).await;
    Ok(StatusCode::NO_CONTENT)
}
