//! The per-user limit on HTTP writes ([`crate::limits`]), as middleware.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use crate::error::AppError;
use crate::state::AppState;

/// Middleware: a write by a signed-in user takes a token from their bucket
/// or is answered 429. Runs inside the session layer; signing in, signing
/// up and out have limits of their own, and a resumable upload's `PATCH`es
/// continue an upload its creation was counted for (a fast link sends
/// dozens a second).
pub async fn limit_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let continues_upload =
        req.method() == axum::http::Method::PATCH && path.starts_with("/api/uploads/");
    let is_write = !crate::http::is_safe_method(req.method())
        && !path.starts_with("/api/auth/")
        && !continues_upload;
    // Owned before any await: a request (its body) is not `Sync`.
    let session = req.extensions().get::<Session>().cloned();
    if let Some(limiter) = &state.write_limits
        && is_write
        && let Some(user) = session_user(session).await
        && let Err(wait) = limiter.take(user)
    {
        return AppError::RateLimited {
            message: "too many writes; slow down".into(),
            retry_after: wait,
        }
        .into_response();
    }
    next.run(req).await
}

/// The signed-in user of a request's session, if any (the `User`
/// extractor does the rest of the checking later, from the same loaded
/// session).
pub(crate) async fn session_user(session: Option<Session>) -> Option<i64> {
    session?
        .get::<i64>(crate::auth::SESSION_USER)
        .await
        .ok()
        .flatten()
}
