//! How one user stands with another, as the social routes read it: are
//! they friends, has one blocked the other, who is behind a name; and the
//! presence both lose when they part.

use serde::Serialize;
use sqlx::SqlitePool;
use utoipa::ToSchema;

use crate::auth::accounts::{self, Timestamp, UserView};
use crate::error::AppError;
use crate::http::{Page, PageReq};
use crate::state::AppState;
use crate::store::relations::ARE_FRIENDS;
use kith_core::ids::Id;
use kith_core::protocol::{Presence, ServerFrame};

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
    Yourself,
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
        return Ok(Relationship::Yourself);
    }
    if has_blocked(pool, me, other).await? {
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

/// Whether `blocker` has blocked `blocked`.
pub async fn has_blocked(pool: &SqlitePool, blocker: Id, blocked: Id) -> Result<bool, sqlx::Error> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM blocks WHERE blocker_id = ? AND blocked_id = ?")
            .bind(blocker.0)
            .bind(blocked.0)
            .fetch_optional(pool)
            .await?;
    Ok(found.is_some())
}

/// Tells the live sockets of `a` and `b`, on every node, that each no
/// longer sees the other's presence (after an unfriending or a block).
pub async fn part(state: &AppState, a: &UserView, b: &UserView) {
    for (to, about) in [(a, b), (b, a)] {
        let frame = ServerFrame::Presence {
            user: about.username.clone(),
            status: Presence::Offline,
        }
        .encode();
        state.push(to.id, &frame).await;
    }
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
pub(super) struct UserPairRow {
    pub(super) key: i64,
    pub(super) at: i64,
    id: i64,
    username: String,
    display_name: String,
    created_at: i64,
    avatar_id: Option<i64>,
}

impl UserPairRow {
    pub(super) fn user(&self) -> UserView {
        UserView::new(
            self.id,
            self.username.clone(),
            self.display_name.clone(),
            self.created_at,
            self.avatar_id,
        )
    }
}

/// A page of the users related to `me` as `sql` selects them: a
/// [`UserPairRow`] keyed by the other user's id, given `me`, the cursor and
/// the limit, newest key first.
pub async fn user_page(
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

/// Resolves a username to its user, or 404.
pub async fn user_named(state: &AppState, username: &str) -> Result<UserView, AppError> {
    accounts::by_username(&state.read, username)
        .await?
        .ok_or_else(|| AppError::not_found("user"))
}
