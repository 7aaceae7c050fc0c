//! App tokens: `POST /api/auth/token` signs a native app in and answers a
//! token for `Authorization: Bearer` (see `crate::http::bearer`).
//!
//! A token is a session made without a cookie: the same record, the same
//! 30 days of expiry after its last use, listed and revoked with the
//! browser sessions. Only the session table holds it, as it holds cookies.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tower_sessions::SessionStore;
use tower_sessions::session::{Id as SessionId, Record};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Device;
use super::routes::check_login;
use super::session_store::WriterStore;
use super::{SESSION_ADDR, SESSION_DEVICE, SESSION_KIND, SESSION_SEEN, SESSION_USER};
use crate::error::{AppError, ErrorBody};
use crate::http::Json;
use crate::http::client_ip::ClientIp;
use crate::state::AppState;
use kith_core::ids::now_ms;

/// A token lives as long as a browser session: 30 days after its last use.
const TOKEN_DAYS: i64 = 30;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
    /// How the session list names this app (`kith for iPhone`); the
    /// User-Agent's name otherwise. At most 64 characters.
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <token>`; keep it like a password.
    pub token: String,
}

#[utoipa::path(post, path = "/api/auth/token", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 201, description = "A token for this account", body = TokenResponse),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 403, description = "Banned, or awaiting approval (`awaiting_approval`)", body = ErrorBody),
        (status = 422, description = "A name longer than 64 characters", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody),
    ))]
async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    device: Device,
    Json(req): Json<TokenRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), AppError> {
    let name = match req.name.as_deref().map(str::trim) {
        None | Some("") => device.name,
        Some(n) if n.chars().count() <= 64 && !n.chars().any(char::is_control) => n.to_owned(),
        Some(_) => return Err(AppError::invalid("name must be at most 64 characters")),
    };
    let user = check_login(&state, ip, &req.username, req.password).await?;
    let data = HashMap::from([
        (SESSION_USER.to_owned(), serde_json::json!(user.0)),
        (SESSION_SEEN.to_owned(), serde_json::json!(now_ms())),
        (SESSION_KIND.to_owned(), serde_json::json!("token")),
        (SESSION_DEVICE.to_owned(), serde_json::json!(name)),
        (SESSION_ADDR.to_owned(), serde_json::json!(device.address)),
    ]);
    let mut record = Record {
        id: SessionId::default(),
        data,
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::days(TOKEN_DAYS),
    };
    WriterStore::new(
        state.writer.clone(),
        state.read.clone(),
        state.sessions.clone(),
    )
    .create(&mut record)
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("storing a token: {e}")))?;
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            token: record.id.to_string(),
        }),
    ))
}
