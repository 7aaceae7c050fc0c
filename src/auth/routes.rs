//! `/api/auth/*` and `/api/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::{self, UserView};
use super::extract::Device;
use super::{SESSION_ADDR, SESSION_DEVICE, SESSION_KIND, SESSION_SEEN, SESSION_USER, User, limits};
use crate::community;
use crate::config::SignupMode;
use crate::error::{AppError, ErrorBody};
use crate::http::Json;
use crate::http::client_ip::ClientIp;
use crate::state::AppState;
use crate::store::sessions::EndUserSessions;
use crate::store::users::CreateUser;
use kith_core::ids::{Id, now_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(config))
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    pub display_name: Option<String>,
    /// Required under `--signup invite`.
    pub invite: Option<String>,
    /// Why you want to join: required under `--signup approval` (at most
    /// 500 characters), shown to the admins who approve.
    pub reason: Option<String>,
}

/// The answer to a sign-up that awaits approval.
#[derive(Serialize, ToSchema)]
pub struct Pending {
    pub pending: bool,
    pub message: String,
}

/// The most a sign-up's reason may hold.
const MAX_REASON_CHARS: usize = 500;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub user: UserView,
}

/// Starts a signed-in session for `user`, under a new session id so that an
/// id planted before login is worthless after it (session fixation).
async fn sign_in(session: &Session, user: Id, device: &Device) -> Result<(), AppError> {
    let e = |e: tower_sessions::session::Error| AppError::Internal(e.into());
    if session.id().is_some() {
        session.cycle_id().await.map_err(e)?;
    }
    session.insert(SESSION_USER, user.0).await.map_err(e)?;
    session.insert(SESSION_SEEN, now_ms()).await.map_err(e)?;
    session.insert(SESSION_KIND, "browser").await.map_err(e)?;
    session
        .insert(SESSION_DEVICE, &device.name)
        .await
        .map_err(e)?;
    session
        .insert(SESSION_ADDR, &device.address)
        .await
        .map_err(e)?;
    Ok(())
}

/// The public sign-up and mail settings, for the sign-up and sign-in pages.
#[derive(Serialize, ToSchema)]
pub struct AuthConfig {
    pub signup: SignupMode,
    /// The server sends mail: password resets by mail work.
    pub mail: bool,
    /// Every user may make invite codes (otherwise admins only).
    pub invites_by_users: bool,
}

#[utoipa::path(get, path = "/api/auth/config", tag = "auth",
    responses((status = 200, body = AuthConfig)))]
async fn config(State(state): State<AppState>) -> Json<AuthConfig> {
    let c = &state.config;
    Json(AuthConfig {
        signup: c.community.signup,
        mail: c.mail.is_some(),
        invites_by_users: c.community.users_may_invite,
    })
}

#[utoipa::path(post, path = "/api/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = UserResponse),
        (status = 202, description = "Account created; it awaits an admin's approval (`--signup approval`)", body = Pending),
        (status = 403, description = "Sign-ups are closed (`signups_closed`)", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid username, password, display name, reason or invite code (`invalid_invite`)", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address; see Retry-After", body = ErrorBody),
    ))]
async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    device: Device,
    session: Session,
    Json(req): Json<SignupRequest>,
) -> Result<axum::response::Response, AppError> {
    let mode = state.config.community.signup;
    if mode == SignupMode::Closed {
        return Err(AppError::Coded {
            status: StatusCode::FORBIDDEN,
            code: "signups_closed",
            message: "sign-ups are closed on this server; ask its operator for an account".into(),
        });
    }
    accounts::check_username(&req.username)?;
    accounts::check_password(&req.password)?;
    let display_name = match &req.display_name {
        Some(d) => accounts::clean_display_name(d)?,
        None => req.username.clone(),
    };
    let invite = match mode {
        SignupMode::Invite => {
            Some(community::check_invite(&state.read, req.invite.as_deref()).await?)
        }
        _ => None,
    };
    let pending = match mode {
        SignupMode::Approval => {
            let reason = req.reason.as_deref().map(str::trim).unwrap_or("");
            if reason.is_empty()
                || reason.chars().count() > MAX_REASON_CHARS
                || reason.chars().any(|c| c.is_control() && c != '\n')
            {
                return Err(AppError::invalid(format!(
                    "tell the admins in 1 to {MAX_REASON_CHARS} characters why you want to join (reason)"
                )));
            }
            Some(reason.to_owned())
        }
        _ => None,
    };
    // After the free checks, so that fighting the password rules costs
    // nothing; before the lookup, so that probing for taken names counts.
    limits::admit_signup(&state, ip).await?;
    if accounts::by_username(&state.read, &req.username)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict("that username is taken".into()));
    }
    let password_hash = state.passwords.hash(req.password).await?;
    let id = crate::db::keyed::new_id();
    state
        .writer
        .run(CreateUser {
            id,
            username: req.username.clone(),
            display_name,
            password_hash,
            invite,
            pending: pending.clone(),
        })
        .await
        .map_err(community::invite_error)?;
    limits::signed_up(&state, ip, &req.username).await;
    if pending.is_some() {
        return Ok((
            StatusCode::ACCEPTED,
            Json(Pending {
                pending: true,
                message: "your account awaits an admin's approval; sign in once it is approved"
                    .into(),
            }),
        )
            .into_response());
    }
    sign_in(&session, id, &device).await?;
    let user = accounts::by_id(&state.reader, id)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("new user not readable")))?;
    Ok((StatusCode::CREATED, Json(UserResponse { user })).into_response())
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = UserResponse),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 403, description = "The password is right but the account is banned, or awaits approval (`awaiting_approval`)", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or on this account; see Retry-After", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    device: Device,
    session: Session,
    Json(req): Json<LoginRequest>,
) -> Result<Json<UserResponse>, AppError> {
    let id = check_login(&state, ip, &req.username, req.password).await?;
    sign_in(&session, id, &device).await?;
    let user = accounts::by_id(&state.reader, id)?.ok_or(AppError::BadCredentials)?;
    Ok(Json(UserResponse { user }))
}

/// Checks a username and password under the sign-in limits; answers the
/// account when it may sign in. Shared by the cookie sign-in and app
/// tokens, so both refuse the same things in the same words.
pub(super) async fn check_login(
    state: &AppState,
    ip: std::net::IpAddr,
    username: &str,
    password: String,
) -> Result<Id, AppError> {
    // Counted as a failure until the password proves right; refused here,
    // the attempt costs no argon2 work.
    let attempt = limits::admit_login(state, ip, username).await?;
    if password.len() > super::password::MAX_LEN {
        return Err(AppError::BadCredentials);
    }
    let creds = accounts::credentials(&state.read, username).await?;
    let (id, hash, banned, pending) = match creds {
        Some(c) => (Some(c.id), Some(c.password_hash), c.banned, c.pending),
        None => (None, None, false, false),
    };
    let ok = state.passwords.verify(password, hash).await?;
    let Some(id) = id.filter(|_| ok) else {
        return Err(AppError::BadCredentials);
    };
    // Only past the password, so that the answer tells no stranger whether
    // an account is banned or pending.
    if banned {
        return Err(AppError::Forbidden("this account is banned".into()));
    }
    attempt.succeeded(state).await;
    if pending {
        return Err(AppError::Coded {
            status: StatusCode::FORBIDDEN,
            code: "awaiting_approval",
            message: "this account awaits an admin's approval".into(),
        });
    }
    Ok(id)
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204, description = "This session is ended")))]
async fn logout(session: Session) -> Result<StatusCode, AppError> {
    if session.id().is_some() {
        session
            .flush()
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth",
    responses(
        (status = 204, description = "Every session of this user is ended"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn logout_all(State(state): State<AppState>, user: User) -> Result<StatusCode, AppError> {
    state
        .writer
        .run(EndUserSessions { user_id: user.id })
        .await?;
    user.signed_out_everywhere(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}
