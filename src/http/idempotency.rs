//! The `Idempotency-Key` request header, as middleware: a signed-in
//! person's write sent again with the same key is not applied again
//! (the rule and its storage: [`crate::db::keyed`]).
//!
//! Not keyed: signing up, in and out (`/api/auth/`: signing in again is
//! harmless, and a repeated sign-up answers 409 once the first took), and
//! a resumable upload's `PATCH`es, which the tus protocol already makes
//! safe to repeat by their `Upload-Offset`.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tower_sessions::Session;

use crate::db::keyed::{self, KeyedRequest, MAX_KEY_LEN, REUSED};
use crate::error::AppError;
use crate::state::AppState;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a response to a repeat that was answered from the first attempt.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Bodies up to this size are kept, hashed whole and can be run again; a
/// larger one (an upload) is streamed and hashed by its length and type.
const BUFFERED: usize = crate::app::MAX_BODY_BYTES;

pub async fn keyed(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(raw) = req.headers().get(&IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    let exempt = crate::http::is_safe_method(req.method())
        || path.starts_with("/api/auth/")
        || (req.method() == Method::PATCH && path.starts_with("/api/uploads/"));
    if exempt {
        return next.run(req).await;
    }
    let key = match check_key(raw) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let session = req.extensions().get::<Session>().cloned();
    let Some(user) = crate::http::write_limit::session_user(session).await else {
        // The handler answers 401; there is no one to keep a key for.
        return next.run(req).await;
    };
    let scope = format!("user:{user}");
    let (parts, body) = req.into_parts();
    let (body, kept) = match keep_body(&parts, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let fingerprint = fingerprint(&parts, kept.as_ref());
    let replay = match keyed::earlier(&state.read, &scope, &key).await {
        Ok(Some(e)) if e.fingerprint != fingerprint => return reused(),
        Ok(e) => e.map(|e| e.ids).unwrap_or_default(),
        Err(e) => return AppError::Internal(e).into_response(),
    };
    let attempt = KeyedRequest::new(scope.clone(), key.clone(), fingerprint.clone(), replay);
    let first = copy(&parts);
    let mut res = attempt
        .run(next.clone().run(Request::from_parts(first, body)))
        .await;
    let mut replayed = attempt.replayed();
    // An earlier attempt's steps reached the writer but not yet this
    // node's copy when this attempt began: run once more as that attempt.
    if let (Some(ids), Some(bytes)) = (attempt.first_ids(), kept) {
        let again = KeyedRequest::new(scope, key, fingerprint, ids);
        res = again
            .run(next.run(Request::from_parts(parts, Body::from(bytes))))
            .await;
        replayed = true;
    }
    if replayed {
        res.headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    res
}

fn check_key(raw: &HeaderValue) -> Result<String, AppError> {
    let key = raw
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=MAX_KEY_LEN).contains(&k.len()))
        .filter(|k| k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"
            ))
        })?;
    // The draft's examples quote the key as a structured-field string.
    Ok(key.trim_matches('"').to_string())
}

fn reused() -> Response {
    AppError::Coded {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "idempotency_key_reused",
        message: REUSED.into(),
    }
    .into_response()
}

/// The body to hand on, and a copy of it when it is small enough to keep.
async fn keep_body(parts: &Parts, body: Body) -> Result<(Body, Option<Bytes>), AppError> {
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|n| n > BUFFERED) {
        return Ok((body, None));
    }
    let bytes = axum::body::to_bytes(body, BUFFERED)
        .await
        .map_err(|_| AppError::PayloadTooLarge)?;
    Ok((Body::from(bytes.clone()), Some(bytes)))
}

/// The request's method, target, type and body, hashed (a streamed body by
/// its length).
fn fingerprint(parts: &Parts, body: Option<&Bytes>) -> String {
    let mut h = Sha256::new();
    h.update(parts.method.as_str());
    h.update([0]);
    h.update(parts.uri.to_string());
    h.update([0]);
    let header = |name| {
        parts
            .headers
            .get(name)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default()
    };
    h.update(header(header::CONTENT_TYPE));
    h.update([0]);
    match body {
        Some(b) => h.update(b),
        None => h.update(header(header::CONTENT_LENGTH)),
    }
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The request's head again, for a second run of the handler.
fn copy(parts: &Parts) -> Parts {
    let (mut head, ()) = Request::new(()).into_parts();
    head.method = parts.method.clone();
    head.uri = parts.uri.clone();
    head.version = parts.version;
    head.headers = parts.headers.clone();
    head.extensions = parts.extensions.clone();
    head
}
