//! Invite codes: made by admins (and by every user with
//! `--users-may-invite`), each with a number of uses and an expiry; under
//! `--signup invite` a sign-up needs one.

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::User;
use crate::auth::accounts::{self, Author, Timestamp, UserView};
use crate::auth::recovery::public_url;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Path};
use crate::state::AppState;
use crate::store::CmdError;
use crate::store::audit::Audited;
use crate::store::community::{AdminInvite, CreateInvite, INVALID_INVITE, RevokeInvite};
use kith_core::ids::now_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
}

/// Uses an invite may have: from one person to a whole class.
const MAX_USES: i64 = 1000;
/// The longest an invite may run: a year.
const MAX_HOURS: i64 = 24 * 365;
/// A week, as Mastodon's default.
const DEFAULT_HOURS: i64 = 24 * 7;
/// Invites a user (not an admin) may have open at once.
const OPEN_PER_USER: i64 = 20;

fn invalid_invite() -> AppError {
    AppError::Coded {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "invalid_invite",
        message: INVALID_INVITE.into(),
    }
}

/// The invite code of a sign-up, checked before the account is made (the
/// use itself is counted in the sign-up's transaction).
pub async fn check_invite(pool: &SqlitePool, code: Option<&str>) -> Result<String, AppError> {
    let code = code
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.len() <= 64);
    let Some(code) = code else {
        return Err(AppError::Coded {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_invite",
            message: "sign-ups on this server need an invite code (invite)".into(),
        });
    };
    let ok: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM invites WHERE code = ?1 AND revoked_at IS NULL AND uses < max_uses
         AND (expires_at IS NULL OR expires_at > ?2)",
    )
    .bind(code)
    .bind(now_ms())
    .fetch_optional(pool)
    .await?;
    match ok {
        Some(_) => Ok(code.to_owned()),
        None => Err(invalid_invite()),
    }
}

/// A sign-up whose invite was used up between the check and the write.
pub fn invite_error(e: CmdError) -> AppError {
    match e {
        CmdError::Invalid(m) if m == INVALID_INVITE => invalid_invite(),
        other => other.into(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct InviteView {
    pub code: String,
    /// The sign-up page with the code filled in.
    pub url: String,
    pub max_uses: i64,
    pub uses: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub created_by: Option<UserView>,
}

#[derive(Serialize, ToSchema)]
pub struct InviteResponse {
    pub invite: InviteView,
}

#[derive(Serialize, ToSchema)]
pub struct InviteList {
    pub items: Vec<InviteView>,
}

#[derive(sqlx::FromRow)]
struct Row {
    code: String,
    max_uses: i64,
    uses: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    created_at: i64,
    #[sqlx(flatten)]
    author: Author,
}

const SELECT: &str = concat!(
    "SELECT i.code, i.max_uses, i.uses, i.expires_at, i.revoked_at, i.created_at, ",
    crate::author_columns!(),
    " FROM invites i JOIN users a ON a.id = i.created_by"
);

/// Invites: all of them (`None`) or one user's, newest first (at most 200).
pub async fn list_of(
    state: &AppState,
    by: Option<kith_core::ids::Id>,
) -> Result<Vec<InviteView>, AppError> {
    let rows: Vec<Row> = match by {
        Some(u) => {
            sqlx::query_as(&format!(
                "{SELECT} WHERE i.created_by = ? ORDER BY i.created_at DESC LIMIT 200"
            ))
            .bind(u.0)
            .fetch_all(&state.read)
            .await?
        }
        None => {
            sqlx::query_as(&format!("{SELECT} ORDER BY i.created_at DESC LIMIT 200"))
                .fetch_all(&state.read)
                .await?
        }
    };
    let base = public_url(state);
    Ok(rows
        .into_iter()
        .map(|r| InviteView {
            url: format!("{base}/#/signup/{}", r.code),
            code: r.code,
            max_uses: r.max_uses,
            uses: r.uses,
            expires_at: r.expires_at.map(Timestamp),
            revoked: r.revoked_at.is_some(),
            created_at: Timestamp(r.created_at),
            created_by: Some(UserView::from(r.author)),
        })
        .collect())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvite {
    /// 1 to 1000 (default 1).
    pub max_uses: Option<i64>,
    /// 1 to 8760 hours (default a week); null: never.
    pub expires_in_hours: Option<i64>,
}

/// Who may make invites: admins, and everyone under `--users-may-invite`.
async fn may_invite(state: &AppState, user: &User) -> Result<bool, AppError> {
    let admin = accounts::is_admin(&state.read, user.id).await?;
    if !admin && !state.config.community.users_may_invite {
        return Err(AppError::Forbidden(
            "only admins make invites on this server".into(),
        ));
    }
    Ok(admin)
}

#[utoipa::path(post, path = "/api/invites", tag = "community",
    request_body = NewInvite,
    responses(
        (status = 201, description = "A new invite", body = InviteResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Only admins make invites here", body = ErrorBody),
        (status = 422, description = "Uses or expiry out of bounds", body = ErrorBody),
        (status = 429, description = "Too many open invites", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    user: User,
    Json(req): Json<NewInvite>,
) -> Result<(StatusCode, Json<InviteResponse>), AppError> {
    let admin = may_invite(&state, &user).await?;
    let max_uses = req.max_uses.unwrap_or(1);
    if !(1..=MAX_USES).contains(&max_uses) {
        return Err(AppError::invalid(format!(
            "max_uses must be 1 to {MAX_USES}"
        )));
    }
    let hours = req.expires_in_hours.unwrap_or(DEFAULT_HOURS);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(AppError::invalid(format!(
            "expires_in_hours must be 1 to {MAX_HOURS}"
        )));
    }
    if !admin {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM invites WHERE created_by = ?1 AND revoked_at IS NULL
             AND uses < max_uses AND (expires_at IS NULL OR expires_at > ?2)",
        )
        .bind(user.id.0)
        .bind(now_ms())
        .fetch_one(&state.read)
        .await?;
        if open >= OPEN_PER_USER {
            return Err(AppError::RateLimited {
                message: format!("at most {OPEN_PER_USER} open invites; revoke one first"),
                retry_after: std::time::Duration::from_secs(3600),
            });
        }
    }
    // 96 random bits: unguessable, and short enough to read out.
    let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>());
    let cmd = CreateInvite {
        code: code.clone(),
        by: user.id,
        max_uses,
        expires_at: Some(now_ms() + hours * 3600 * 1000),
    };
    if admin {
        state
            .writer
            .run(Audited {
                actor: user.id,
                cmd: AdminInvite(cmd),
            })
            .await?;
    } else {
        state.writer.run(cmd).await?;
    }
    let invite = list_of(&state, Some(user.id))
        .await?
        .into_iter()
        .find(|i| i.code == code)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("new invite not readable")))?;
    Ok((StatusCode::CREATED, Json(InviteResponse { invite })))
}

#[utoipa::path(get, path = "/api/invites", tag = "community",
    responses(
        (status = 200, description = "Your invites (an admin's: everyone's), newest first", body = InviteList),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn list(State(state): State<AppState>, user: User) -> Result<Json<InviteList>, AppError> {
    let admin = accounts::is_admin(&state.read, user.id).await?;
    let items = list_of(&state, if admin { None } else { Some(user.id) }).await?;
    Ok(Json(InviteList { items }))
}

#[utoipa::path(delete, path = "/api/invites/{code}", tag = "community",
    params(("code" = String, Path)),
    responses(
        (status = 204, description = "Revoked (also when it was already)"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such invite of yours", body = ErrorBody),
    ))]
async fn revoke(
    State(state): State<AppState>,
    user: User,
    Path(code): Path<String>,
) -> Result<StatusCode, AppError> {
    let admin = accounts::is_admin(&state.read, user.id).await?;
    state
        .writer
        .run(RevokeInvite {
            code,
            by: user.id,
            admin,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
