//! `Authorization: Bearer` for native apps.
//!
//! An app token is a session like a browser's (`crate::auth::tokens`
//! makes one), so everything that holds for sessions holds for tokens:
//! the same extractor, listing, revocation, bans, expiry after 30 days
//! unused. This layer, outside the session layer, hands the token to it as
//! if it were the session cookie, and drops any `Set-Cookie` from the
//! answer: an app keeps its token, not a cookie.
//!
//! A bearer request carries no cookie a browser would attach on its own,
//! so it cannot be forged by another site's page: it skips the
//! cross-origin check ([`Bearer`] marks it), while cookie requests keep it.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Bearer;
use crate::error::AppError;
use crate::state::AppState;

/// The session cookie's name (as the session layer is configured).
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-kith" } else { "kith" }
}

/// A session id as tower-sessions writes it: 128 bits in unpadded
/// URL-safe base64, 22 characters.
fn looks_like_token(t: &str) -> bool {
    t.len() == 22
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn bearer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = match req.headers().get(header::AUTHORIZATION) {
        None => return next.run(req).await,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .map(str::to_owned),
    };
    let Some(token) = token.filter(|t| looks_like_token(t)) else {
        return AppError::Coded {
            status: axum::http::StatusCode::UNAUTHORIZED,
            code: "invalid_token",
            message: "the Authorization header must be `Bearer <token>` with a token from POST /api/auth/token".into(),
        }
        .into_response();
    };
    let name = cookie_name(state.config.secure_cookies);
    let headers = req.headers_mut();
    // Only the token speaks for this request.
    headers.remove(header::COOKIE);
    match HeaderValue::from_str(&format!("{name}={token}")) {
        Ok(v) => {
            headers.insert(header::COOKIE, v);
        }
        Err(_) => return AppError::Unauthorized.into_response(),
    }
    req.extensions_mut().insert(Bearer);
    let mut res = next.run(req).await;
    res.headers_mut().remove(header::SET_COOKIE);
    res
}

#[cfg(test)]
mod tests {
    use super::looks_like_token;

    #[test]
    fn tokens_are_session_ids() {
        assert!(looks_like_token("AAAAAAAAAAAAAAAAAAAAAA"));
        assert!(looks_like_token("abc-_0123456789xyzABCD"));
        assert!(!looks_like_token("short"));
        assert!(!looks_like_token("AAAAAAAAAAAAAAAAAAAA;x"));
        assert!(!looks_like_token("AAAAAAAAAAAAAAAAAAAAA=="));
    }
}
