//! The `User` extractor: the signed-in user, or 401.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use tower_sessions::Session;

use super::accounts::{self, UserView};
use super::{SESSION_ADDR, SESSION_SEEN, SESSION_USER};
use crate::error::AppError;
use crate::http::client_ip::ClientIp;
use crate::state::AppState;
use kith_core::device::coarse_address;
use kith_core::ids::{Id, now_ms};

/// How often a session's expiry and "last seen" are pushed forward by
/// activity. Sessions expire after 30 days without use; refreshing at most
/// hourly keeps nearly every read free of session writes (one write per
/// active session per hour: 10 000 people online make three a second)
/// and a session list right to the hour.
const TOUCH_EVERY_MS: i64 = 3600 * 1000;

/// The signed-in user of this request.
#[derive(Clone, Debug)]
pub struct User {
    pub id: Id,
    pub view: UserView,
    pub session: Session,
}

impl User {
    /// The public handle of this request's session, if it has one yet.
    pub fn handle(&self) -> Option<Id> {
        self.session
            .id()
            .map(|id| kith_core::device::session_handle(&id.to_string()))
    }

    /// After every session of this user was ended in the database: closes
    /// their sockets on every node, and drops this request's session so
    /// that its cookie is cleared.
    pub async fn signed_out_everywhere(self, state: &AppState) -> Result<(), AppError> {
        state.sign_out_everywhere(self.id).await;
        self.session
            .flush()
            .await
            .map_err(|e| AppError::Internal(e.into()))
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match signed_in(parts, state).await {
            Err(AppError::Unauthorized) => Err(refusal(parts, state)),
            other => other,
        }
    }
}

/// Why a request with no signed-in user is refused: plain 401, or, when
/// its session cookie names a session a ban ended, 401 `banned`, so that
/// the web client says the account was banned rather than that it was
/// signed out (the request can come before the socket's close says so).
fn refusal(parts: &Parts, state: &AppState) -> AppError {
    let name = crate::http::bearer::cookie_name(state.config.secure_cookies);
    let Some(id) = cookie(parts, name) else {
        return AppError::Unauthorized;
    };
    match super::ended::ended_by_ban(&state.reader, id) {
        Ok(true) => AppError::Coded {
            status: axum::http::StatusCode::UNAUTHORIZED,
            code: "banned",
            message: "this account has been banned from this server".into(),
        },
        _ => AppError::Unauthorized,
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The signed-in user, or `Unauthorized`.
async fn signed_in(parts: &mut Parts, state: &AppState) -> Result<User, AppError> {
    let session = parts
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
    let uid: Option<i64> = session
        .get(SESSION_USER)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let id = Id(uid.ok_or(AppError::Unauthorized)?);
    // Not found is an error here so that moka does not cache it.
    let view = state
        .users
        .try_get_with(id, async {
            match accounts::by_id(&state.reader, id) {
                Ok(Some(u)) => Ok(std::sync::Arc::new(u)),
                Ok(None) => Err(None),
                Err(e) => Err(Some(e.to_string())),
            }
        })
        .await
        .map_err(|e| match e.as_ref() {
            None => AppError::Unauthorized,
            Some(msg) => AppError::Internal(anyhow::anyhow!("loading user: {msg}")),
        })?;
    let seen: Option<i64> = session.get(SESSION_SEEN).await.unwrap_or(None);
    let now = now_ms();
    if seen.is_none_or(|s| now - s > TOUCH_EVERY_MS) {
        // Marks the session modified; the session layer saves it (and
        // its new expiry, last use and address) after the response.
        let e = |e: tower_sessions::session::Error| AppError::Internal(e.into());
        session.insert(SESSION_SEEN, now).await.map_err(e)?;
        if let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await {
            session
                .insert(SESSION_ADDR, coarse_address(ip))
                .await
                .map_err(e)?;
        }
    }
    Ok(User {
        id,
        view: (*view).clone(),
        session,
    })
}

impl OptionalFromRequestParts<AppState> for User {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, AppError> {
        match signed_in(parts, state).await {
            Ok(u) => Ok(Some(u)),
            Err(AppError::Unauthorized) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The signed-in user, who must be an admin: 401 signed out, 403 not an
/// admin. Read from the database on every request, so a revoked admin is
/// refused at once on every node.
#[derive(Clone, Debug)]
pub struct Admin(pub User);

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = <User as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        if accounts::is_admin(&state.read, user.id).await? {
            Ok(Admin(user))
        } else {
            Err(AppError::Forbidden("admins only".into()))
        }
    }
}

/// The device a request comes from, as a session list names it: from its
/// User-Agent, and its coarse address.
#[derive(Clone, Debug)]
pub struct Device {
    pub name: String,
    pub address: String,
}

impl FromRequestParts<AppState> for Device {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let ua = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(kith_core::device::device_name)
            .unwrap_or_else(|| kith_core::device::device_name(""));
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        Ok(Device {
            name: ua,
            address: coarse_address(ip),
        })
    }
}
