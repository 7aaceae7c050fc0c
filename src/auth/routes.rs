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
use super::{SESSION_SEEN, SESSION_USER, User, limits};
use crate::error::{AppError, ErrorBody};
use crate::http::Json;
use crate::http::client_ip::ClientIp;
use crate::state::AppState;
use crate::store::sessions::EndUserSessions;
use crate::store::users::CreateUser;
use kith_core::ids::{Id, now_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
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
}

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
async fn sign_in(session: &Session, user: Id) -> Result<(), AppError> {
    let e = |e: tower_sessions::session::Error| AppError::Internal(e.into());
    if session.id().is_some() {
        session.cycle_id().await.map_err(e)?;
    }
    session.insert(SESSION_USER, user.0).await.map_err(e)?;
    session.insert(SESSION_SEEN, now_ms()).await.map_err(e)?;
    Ok(())
}

#[utoipa::path(post, path = "/api/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = UserResponse),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid username, password or display name", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address; see Retry-After", body = ErrorBody),
    ))]
async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Json(req): Json<SignupRequest>,
) -> Result<impl IntoResponse, AppError> {
    accounts::check_username(&req.username)?;
    accounts::check_password(&req.password)?;
    let display_name = match &req.display_name {
        Some(d) => accounts::clean_display_name(d)?,
        None => req.username.clone(),
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
    let id = Id::generate();
    state
        .writer
        .run(CreateUser {
            id,
            username: req.username.clone(),
            display_name,
            password_hash,
        })
        .await?;
    limits::signed_up(&state, ip, &req.username).await;
    sign_in(&session, id).await?;
    let user = accounts::by_id(&state.read, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("new user not readable")))?;
    Ok((StatusCode::CREATED, Json(UserResponse { user })))
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = UserResponse),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 403, description = "The password is right but the account is banned", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or on this account; see Retry-After", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Json(req): Json<LoginRequest>,
) -> Result<Json<UserResponse>, AppError> {
    // Counted as a failure until the password proves right; refused here,
    // the attempt costs no argon2 work.
    let attempt = limits::admit_login(&state, ip, &req.username).await?;
    if req.password.len() > super::password::MAX_LEN {
        return Err(AppError::BadCredentials);
    }
    let creds = accounts::credentials(&state.read, &req.username).await?;
    let (id, hash, banned) = match creds {
        Some(c) => (Some(c.id), Some(c.password_hash), c.banned),
        None => (None, None, false),
    };
    let ok = state.passwords.verify(req.password, hash).await?;
    let Some(id) = id.filter(|_| ok) else {
        return Err(AppError::BadCredentials);
    };
    // Only past the password, so that the answer tells no stranger whether
    // an account is banned.
    if banned {
        return Err(AppError::Forbidden("this account is banned".into()));
    }
    attempt.succeeded(&state).await;
    sign_in(&session, id).await?;
    let user = accounts::by_id(&state.read, id)
        .await?
        .ok_or(AppError::BadCredentials)?;
    Ok(Json(UserResponse { user }))
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
