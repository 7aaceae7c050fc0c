//! `AppError`: every failure a handler can return, and its JSON response
//! `{"error":{"code","message"}}`.
//!
//! Client errors say what was wrong. Internal errors are logged with their
//! cause chain and answered with a bare 500: their details never reach the
//! client.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::CmdError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than the limit")]
    PayloadTooLarge,
    /// 413 with a reason (the upload limit, the quota).
    #[error("{0}")]
    TooLarge(String),
    /// 408: the client stopped sending.
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Unavailable(String),
    /// Over a rate limit: 429, with `Retry-After` in whole seconds.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    /// A refusal with its own machine-readable code (`awaiting_approval`,
    /// `invalid_token`, …), for clients that act on it.
    #[error("{message}")]
    Coded {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// An upload's body that stopped arriving (after this many seconds).
#[derive(Debug, thiserror::Error)]
#[error("no bytes arrived for {0} s")]
pub struct BodyStalled(pub u64);

impl From<axum::Error> for AppError {
    /// A request body that failed: it stalled (408), or the client went
    /// away or sent something malformed (400).
    fn from(e: axum::Error) -> Self {
        let text = e.to_string();
        let inner = e.into_inner();
        if let Some(s) = inner.downcast_ref::<BodyStalled>() {
            return AppError::Timeout(format!("the upload stopped: {s}"));
        }
        AppError::BadRequest(format!("the upload was cut off: {text}"))
    }
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `not_found`, `conflict`, `invalid`, …
    pub code: &'static str,
    /// For people; may change.
    pub message: String,
}

impl AppError {
    pub fn not_found(what: &str) -> Self {
        AppError::NotFound(format!("{what} not found"))
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        AppError::Unprocessable(msg.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::PayloadTooLarge | AppError::TooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            AppError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            AppError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            AppError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::Coded { status, code, .. } => (*status, *code),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// Whether `e` comes from a write that found no space left (ENOSPC).
fn disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28)
        })
    })
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        // A disk that filled up under a file being written (an upload, an
        // avatar) is the server's condition, not a bug: a clear 507, so
        // the client knows to try later (tests/api/disk.rs).
        if let AppError::Internal(e) = &self
            && disk_full(e)
        {
            tracing::warn!(error = %e, "the disk is full");
            return AppError::Coded {
                status: StatusCode::INSUFFICIENT_STORAGE,
                code: "insufficient_storage",
                message: "the server's disk is full: nothing was stored; try again later".into(),
            }
            .into_response();
        }
        let (status, code) = self.status_and_code();
        let message = match &self {
            AppError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "internal server error".to_string()
            }
            other => other.to_string(),
        };
        let mut res = (
            status,
            axum::Json(ErrorBody {
                error: ErrorDetail { code, message },
            }),
        )
            .into_response();
        // Also set by the outer layers, but a panic's 500 is made by
        // CatchPanicLayer, outside them.
        res.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let AppError::RateLimited { retry_after, .. } = &self {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_secs(*retry_after)),
            );
        }
        res
    }
}

/// `Retry-After` in whole seconds: rounded up, at least 1, so that a
/// client that waits exactly that long gets through.
pub fn retry_secs(wait: Duration) -> u64 {
    wait.as_millis()
        .div_ceil(1000)
        .max(1)
        .try_into()
        .unwrap_or(u64::MAX)
}

impl From<CmdError> for AppError {
    fn from(e: CmdError) -> Self {
        match e {
            CmdError::NotFound(m) => AppError::NotFound(m),
            CmdError::Forbidden(m) => AppError::Forbidden(m),
            CmdError::Conflict(m) => AppError::Conflict(m),
            CmdError::Invalid(m) => AppError::Unprocessable(m),
            CmdError::TooLarge(m) => AppError::TooLarge(m),
            CmdError::Unavailable(m) => AppError::Unavailable(m),
            CmdError::Unknown(message) => AppError::Coded {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "outcome_unknown",
                message,
            },
            CmdError::Internal(m) => AppError::Internal(anyhow::anyhow!(m)),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::PoolTimedOut = e {
            return AppError::Unavailable("the database is overloaded".into());
        }
        AppError::Internal(e.into())
    }
}

impl From<crate::db::ReadError> for AppError {
    fn from(e: crate::db::ReadError) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<crate::db::DbError> for AppError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Sqlx(e) => e.into(),
            crate::db::DbError::Read(e) => e.into(),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType(
                "expected a request with Content-Type: application/json".into(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY => AppError::Unprocessable(r.body_text()),
            _ => AppError::BadRequest(r.body_text()),
        }
    }
}

impl From<PathRejection> for AppError {
    fn from(_: PathRejection) -> Self {
        // A path segment that does not parse (say, an id this server never
        // issued) names nothing that exists.
        AppError::NotFound("no such resource".into())
    }
}

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> Self {
        AppError::BadRequest(r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(retry_secs(Duration::ZERO), 1);
        assert_eq!(retry_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_secs(Duration::from_secs(900)), 900);
    }
}
