//! Accounts in the console: search and filter, ban and unban, make and
//! revoke admins, hand out a reset link, approve or reject sign-ups.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::auth::accounts::{Timestamp, UserView};
use crate::auth::recovery::{new_token, reset_link};
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, Path, Query};
use crate::state::AppState;
use crate::store::accounts::{Approve, Reject};
use crate::store::audit::Audited;
use crate::store::moderation::{Ban, SetAdmin};
use crate::store::tokens::IssueReset;
use kith_core::ids::Id;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(change))
        .routes(routes!(reset))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

/// An account as admins see it.
#[derive(Serialize, ToSchema)]
pub struct AdminUser {
    pub user: UserView,
    pub admin: bool,
    pub banned: bool,
    /// `active` or `pending` (awaiting approval).
    pub status: String,
    pub email: Option<String>,
    /// What a pending applicant wrote.
    pub signup_reason: String,
    pub invited_with: Option<String>,
    pub post_count: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    username: String,
    display_name: String,
    created_at: i64,
    avatar_id: Option<i64>,
    is_admin: bool,
    banned: bool,
    status: String,
    email: Option<String>,
    signup_reason: String,
    invited_with: Option<String>,
    post_count: i64,
}

impl From<Row> for AdminUser {
    fn from(r: Row) -> Self {
        AdminUser {
            user: UserView::new(r.id, r.username, r.display_name, r.created_at, r.avatar_id),
            admin: r.is_admin,
            banned: r.banned,
            status: r.status,
            email: r.email,
            signup_reason: r.signup_reason,
            invited_with: r.invited_with,
            post_count: r.post_count,
            created_at: Timestamp(r.created_at),
        }
    }
}

const SELECT: &str = "SELECT id, username, display_name, created_at, avatar_id, is_admin <> 0 AS is_admin,
    banned_at IS NOT NULL AS banned, status, email, signup_reason, invited_with, post_count FROM users";

async fn one(state: &AppState, id: Id) -> Result<AdminUser, AppError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = ?"))
        .bind(id.0)
        .fetch_optional(&state.read)
        .await?;
    row.map(AdminUser::from)
        .ok_or_else(|| AppError::not_found("user"))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Part of a username or display name.
    pub q: Option<String>,
    /// all (default), banned, admins or pending.
    pub filter: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/admin/users", tag = "admin",
    params(UserQuery),
    responses(
        (status = 200, description = "Accounts, newest first", body = Page<AdminUser>),
        (status = 400, description = "A bad filter or cursor", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<UserQuery>,
) -> Result<Json<Page<AdminUser>>, AppError> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    let filter = match q.filter.as_deref().unwrap_or("all") {
        "all" => "1",
        "banned" => "banned_at IS NOT NULL",
        "admins" => "is_admin <> 0",
        "pending" => "status = 'pending'",
        _ => {
            return Err(AppError::BadRequest(
                "filter must be all, banned, admins or pending".into(),
            ));
        }
    };
    let needle = q.q.as_deref().map(str::trim).unwrap_or("");
    if needle.chars().count() > 64 {
        return Err(AppError::BadRequest(
            "q must be at most 64 characters".into(),
        ));
    }
    // LIKE's own wildcards in the text are taken literally.
    let pattern = format!(
        "%{}%",
        needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE {filter} AND (username LIKE ?1 ESCAPE '\\' OR display_name LIKE ?1 ESCAPE '\\')
         AND id < ?2 ORDER BY id DESC LIMIT ?3"
    ))
    .bind(pattern)
    .bind(page.before())
    .bind(page.fetch())
    .fetch_all(&state.read)
    .await?;
    let items = rows.into_iter().map(AdminUser::from).collect();
    Ok(Json(Page::from_rows(items, page, |u: &AdminUser| {
        u.user.id
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// Ban (signed out everywhere at once, sockets closed) or unban.
    pub banned: Option<bool>,
    /// Make or revoke an admin.
    pub admin: Option<bool>,
}

#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin",
    params(("id" = Id, Path)),
    request_body = UserChange,
    responses(
        (status = 200, description = "The account after the change", body = AdminUser),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "Already so (banned, an admin, …)", body = ErrorBody),
        (status = 422, description = "Banning or demoting yourself", body = ErrorBody),
    ))]
async fn change(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<Id>,
    Json(req): Json<UserChange>,
) -> Result<Json<AdminUser>, AppError> {
    if id == admin.id && (req.banned == Some(true) || req.admin == Some(false)) {
        return Err(AppError::invalid(
            "you cannot ban yourself or take your own admin rights; ask another admin",
        ));
    }
    if let Some(banned) = req.banned {
        state
            .writer
            .run(Audited {
                actor: admin.id,
                cmd: Ban { user: id, banned },
            })
            .await?;
        // Its sessions ended in the ban's transaction; every node's
        // watcher closes its sockets with the reason (`account banned`).
        state.banned(id).await;
    }
    if let Some(make) = req.admin {
        state
            .writer
            .run(Audited {
                actor: admin.id,
                cmd: SetAdmin {
                    user: id,
                    admin: make,
                },
            })
            .await?;
    }
    Ok(Json(one(&state, id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ResetLink {
    /// Hand it to the account's owner; it works once, within an hour.
    pub url: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

#[utoipa::path(post, path = "/api/admin/users/{id}/reset-link", tag = "admin",
    params(("id" = Id, Path)),
    responses(
        (status = 201, description = "A one-time password-reset link", body = ResetLink),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ))]
async fn reset(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<Id>,
) -> Result<(StatusCode, Json<ResetLink>), AppError> {
    let (token, token_hash) = new_token();
    let expires = state
        .writer
        .run(Audited {
            actor: admin.id,
            cmd: IssueReset {
                user: id,
                token_hash,
                mail: None,
            },
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ResetLink {
            url: reset_link(&state, &token),
            expires_at: Timestamp(expires),
        }),
    ))
}

#[utoipa::path(post, path = "/api/admin/users/{id}/approve", tag = "admin",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "Approved: the account may sign in", body = AdminUser),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No pending account with that id", body = ErrorBody),
    ))]
async fn approve(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<Id>,
) -> Result<Json<AdminUser>, AppError> {
    state
        .writer
        .run(Audited {
            actor: admin.id,
            cmd: Approve { user: id },
        })
        .await?;
    Ok(Json(one(&state, id).await?))
}

#[utoipa::path(post, path = "/api/admin/users/{id}/reject", tag = "admin",
    params(("id" = Id, Path)),
    responses(
        (status = 204, description = "Rejected: the pending account is deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No pending account with that id", body = ErrorBody),
    ))]
async fn reject(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<Id>,
) -> Result<StatusCode, AppError> {
    state
        .writer
        .run(Audited {
            actor: admin.id,
            cmd: Reject { user: id },
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
