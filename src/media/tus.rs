//! Resumable uploads: the tus 1.0 protocol (core, `creation`,
//! `termination`, `expiration`; tus.io/protocols/resumable-upload), so
//! that tus-js-client, Uppy and tuspy work unchanged.
//!
//! `POST /api/uploads` creates an upload of a declared length (counted
//! against the quota from then on); `PATCH /api/uploads/{id}` appends at
//! `Upload-Offset`; `HEAD` tells the offset to resume from; `DELETE`
//! gives it up. The bytes live in the media store ([`super::partial`]),
//! so any node resumes an upload any node began. When the last byte
//! arrives the upload is checked and becomes media `{id}` exactly as a
//! simple upload does ([`super::intake`]).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::StreamExt;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::intake::{self, Want};
use super::partial::AppendError;

use crate::auth::User;
use crate::error::{AppError, ErrorBody};
use crate::http::Path;
use crate::state::AppState;
use crate::store::media::{CreateUpload, DeleteUpload};
use kith_core::ids::{Id, now_ms};

/// The protocol version spoken.
const TUS_VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,termination,expiration";
/// An unfinished upload is kept this long after its creation: a day is
/// enough to come back to a dropped upload, short enough that abandoned
/// bytes do not pile up.
pub const UPLOAD_TTL_MS: i64 = 24 * 60 * 60 * 1000;

static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
static UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
static UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(options, create))
        .routes(routes!(head, patch, delete))
        // Every answer, errors included, names the protocol version.
        .layer(SetResponseHeaderLayer::overriding(
            TUS_RESUMABLE.clone(),
            HeaderValue::from_static(TUS_VERSION),
        ))
}

/// An unfinished upload's row.
#[derive(sqlx::FromRow)]
struct UploadRow {
    length: i64,
    filetype: String,
    expires_at: i64,
}

/// The caller's unfinished upload `id`, unless expired (404 either way:
/// someone else's upload is not there for you).
async fn unfinished(state: &AppState, id: Id, owner: Id) -> Result<Option<UploadRow>, AppError> {
    let row: Option<UploadRow> = sqlx::query_as(
        "SELECT length, filetype, expires_at FROM uploads WHERE id = ? AND owner_id = ?",
    )
    .bind(id.0)
    .bind(owner.0)
    .fetch_optional(&state.read)
    .await?;
    Ok(row.filter(|r| r.expires_at > now_ms()))
}

/// The size of media `id` of `owner`: an upload already complete.
async fn completed(state: &AppState, id: Id, owner: Id) -> Result<Option<i64>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT size_bytes FROM media WHERE id = ? AND owner_id = ?")
            .bind(id.0)
            .bind(owner.0)
            .fetch_optional(&state.read)
            .await?,
    )
}

fn not_found() -> AppError {
    AppError::NotFound("no such upload: it finished, expired or is not yours".into())
}

/// The refusal of a request without `Tus-Resumable: 1.0.0`, if it is one.
fn refuse_version(headers: &HeaderMap) -> Option<Response> {
    match headers.get(&TUS_RESUMABLE).and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => None,
        _ => {
            let mut res = (
                StatusCode::PRECONDITION_FAILED,
                axum::Json(serde_json::json!({"error": {
                    "code": "unsupported_version",
                    "message": "send Tus-Resumable: 1.0.0"
                }})),
            )
                .into_response();
            res.headers_mut()
                .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
            Some(res)
        }
    }
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, AppError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| AppError::BadRequest(format!("{name} must be a whole number"))),
    }
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs.
fn metadata(headers: &HeaderMap) -> Result<HashMap<String, String>, AppError> {
    let mut out = HashMap::new();
    let Some(raw) = headers.get(&UPLOAD_METADATA) else {
        return Ok(out);
    };
    let raw = raw
        .to_str()
        .map_err(|_| AppError::BadRequest("Upload-Metadata must be ASCII".into()))?;
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let value = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()
            .and_then(|v| String::from_utf8(v).ok())
            .ok_or_else(|| {
                AppError::BadRequest(format!("Upload-Metadata: {key} is not base64 text"))
            })?;
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

/// An HTTP date (RFC 9110), for `Upload-Expires`.
fn http_date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

fn with_headers(status: StatusCode, headers: &[(&HeaderName, String)]) -> Response {
    let mut res = status.into_response();
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            res.headers_mut().insert((*name).clone(), v);
        }
    }
    res
}

#[utoipa::path(options, path = "/api/uploads", tag = "media",
    responses((status = 204, description = "What this server speaks: `Tus-Version`, `Tus-Extension`, `Tus-Max-Size`")))]
async fn options(State(state): State<AppState>) -> Response {
    let max = HeaderName::from_static("tus-max-size");
    with_headers(
        StatusCode::NO_CONTENT,
        &[
            (&HeaderName::from_static("tus-version"), TUS_VERSION.into()),
            (&HeaderName::from_static("tus-extension"), EXTENSIONS.into()),
            (&max, state.config.max_upload_bytes.to_string()),
        ],
    )
}

#[utoipa::path(post, path = "/api/uploads", tag = "media",
    params(
        ("Upload-Length" = u64, Header, description = "The whole upload's size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "`filename` and `filetype`, base64"),
    ),
    responses(
        (status = 201, description = "Created; `Location` is where to `PATCH`"),
        (status = 400, description = "No `Upload-Length`", body = ErrorBody),
        (status = 413, description = "Over the size limit or the quota", body = ErrorBody),
        (status = 415, description = "`filetype` is neither an image nor a video", body = ErrorBody),
    ))]
async fn create(State(state): State<AppState>, user: User, headers: HeaderMap) -> Response {
    if let Some(r) = refuse_version(&headers) {
        return r;
    }
    match create_upload(&state, &user, &headers).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn create_upload(
    state: &AppState,
    user: &User,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let length = header_u64(headers, &UPLOAD_LENGTH)?.ok_or_else(|| {
        AppError::BadRequest(
            "Upload-Length is required (deferred lengths are not supported)".into(),
        )
    })?;
    if length == 0 {
        return Err(AppError::BadRequest(
            "an upload has at least one byte".into(),
        ));
    }
    let meta = metadata(headers)?;
    let filetype = meta.get("filetype").cloned().unwrap_or_default();
    let filename = meta
        .get("filename")
        .or_else(|| meta.get("name"))
        .cloned()
        .unwrap_or_default();
    let ft = filetype.to_ascii_lowercase();
    if !ft.is_empty()
        && !ft.starts_with("image/")
        && !ft.starts_with("video/")
        && ft != "application/octet-stream"
    {
        return Err(AppError::UnsupportedMediaType(format!(
            "{filetype} is neither an image nor a video"
        )));
    }
    intake::check_room(state, user.id, length).await?;
    let id = crate::db::keyed::new_id();
    let expires_at = now_ms() + UPLOAD_TTL_MS;
    state
        .writer
        .run(CreateUpload {
            id,
            owner: user.id,
            length: i64::try_from(length).unwrap_or(i64::MAX),
            filename: filename.chars().take(255).collect(),
            filetype: filetype.chars().take(255).collect(),
            expires_at,
            quota: i64::try_from(state.config.user_quota_bytes).unwrap_or(i64::MAX),
        })
        .await?;
    state
        .media
        .create_partial(&state.config.media_dir, id)
        .await
        .map_err(store_error)?;
    Ok(with_headers(
        StatusCode::CREATED,
        &[
            (&header::LOCATION, format!("/api/uploads/{id}")),
            (&UPLOAD_EXPIRES, http_date(expires_at)),
        ],
    ))
}

fn store_error(e: anyhow::Error) -> AppError {
    tracing::warn!(error = %e, "the media store");
    AppError::Unavailable("the media store cannot be reached; retry".into())
}

#[utoipa::path(head, path = "/api/uploads/{id}", tag = "media",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "`Upload-Offset`: resume from there"),
        (status = 404, description = "No such upload, expired, or not yours"),
    ))]
async fn head(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refuse_version(&headers) {
        return r;
    }
    let found = async {
        if let Some(up) = unfinished(&state, id, user.id).await? {
            let offset = state
                .media
                .partial_offset(&state.config.media_dir, id)
                .await
                .map_err(store_error)?
                .ok_or_else(not_found)?;
            return Ok::<_, AppError>((offset, up.length, Some(up.expires_at)));
        }
        // Finished: all of it is here (the last PATCH's answer may have
        // been lost on the way).
        let size = completed(&state, id, user.id)
            .await?
            .ok_or_else(not_found)?;
        Ok((size as u64, size, None))
    };
    match found.await {
        Ok((offset, length, expires)) => {
            let mut h = vec![
                (&UPLOAD_OFFSET, offset.to_string()),
                (&UPLOAD_LENGTH, length.to_string()),
                (&header::CACHE_CONTROL, "no-store".to_string()),
            ];
            if let Some(e) = expires {
                h.push((&UPLOAD_EXPIRES, http_date(e)));
            }
            with_headers(StatusCode::OK, &h)
        }
        // A HEAD answer has no body: the status says it.
        Err(e) => {
            let mut r = e.into_response();
            *r.body_mut() = Body::empty();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
    }
}

#[utoipa::path(patch, path = "/api/uploads/{id}", tag = "media",
    params(("id" = Id, Path), ("Upload-Offset" = u64, Header)),
    request_body(content_type = "application/offset+octet-stream", description = "The next bytes"),
    responses(
        (status = 204, description = "Stored; `Upload-Offset` is the new offset. At the end the upload is media `{id}`"),
        (status = 404, description = "No such upload, expired, or not yours", body = ErrorBody),
        (status = 409, description = "`Upload-Offset` is not the stored offset", body = ErrorBody),
        (status = 413, description = "More bytes than `Upload-Length`", body = ErrorBody),
        (status = 415, description = "Not `application/offset+octet-stream`; or the finished file is not a photo or video", body = ErrorBody),
        (status = 422, description = "The finished image is truncated, corrupt, or too many pixels", body = ErrorBody),
    ))]
async fn patch(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(r) = refuse_version(&headers) {
        return r;
    }
    match append(&state, &user, id, &headers, body).await {
        Ok(offset) => with_headers(
            StatusCode::NO_CONTENT,
            &[(&UPLOAD_OFFSET, offset.to_string())],
        ),
        Err(e) => e.into_response(),
    }
}

async fn append(
    state: &AppState,
    user: &User,
    id: Id,
    headers: &HeaderMap,
    body: Body,
) -> Result<u64, AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/offset+octet-stream" {
        return Err(AppError::UnsupportedMediaType(
            "a PATCH carries Content-Type: application/offset+octet-stream".into(),
        ));
    }
    let offset = header_u64(headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| AppError::BadRequest("Upload-Offset is required".into()))?;
    let Some(up) = unfinished(state, id, user.id).await? else {
        // A retry of the last PATCH, whose answer was lost: nothing to add.
        return match completed(state, id, user.id).await? {
            Some(size) if size as u64 == offset => Ok(offset),
            Some(size) => Err(AppError::Conflict(format!(
                "the upload is complete at offset {size}"
            ))),
            None => Err(not_found()),
        };
    };
    let length = up.length as u64;
    let held = state.uploads.take(id).await;
    let dir = &state.config.media_dir;
    // Stops at the end of the body, or when a newer request takes over.
    let stream = body
        .into_data_stream()
        .take_until(held.stop.clone().cancelled_owned());
    let appended = state
        .media
        .append_partial(dir, id, offset, length, Box::pin(stream))
        .await;
    match appended.error {
        None => {}
        Some(AppendError::Offset(at)) => {
            return Err(AppError::Conflict(format!(
                "Upload-Offset is {offset} but the upload is at {at}; HEAD for the offset"
            )));
        }
        Some(AppendError::TooLong) => {
            return Err(AppError::TooLarge(format!(
                "more bytes than the declared Upload-Length {length}; the first {length} are kept"
            )));
        }
        Some(AppendError::Body(e)) => {
            return Err(AppError::Timeout(format!(
                "the upload stopped at {} ({e}); HEAD for the offset and resume",
                appended.offset
            )));
        }
        Some(AppendError::Store(e)) => return Err(store_error(e)),
    }
    if appended.offset < length {
        return Ok(appended.offset);
    }
    finish(state, user, id, &up).await?;
    drop(held);
    Ok(length)
}

/// The last byte is in: the upload is checked and becomes media. A refused
/// file is removed with its upload.
async fn finish(state: &AppState, user: &User, id: Id, up: &UploadRow) -> Result<(), AppError> {
    let dir = &state.config.media_dir;
    let path = state
        .media
        .assemble_partial(dir, id)
        .await
        .map_err(store_error)?;
    let declared = (!up.filetype.is_empty()).then_some(up.filetype.as_str());
    let checked = match intake::check(state, &path, declared, Want::Any).await {
        Ok(c) => c,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            state
                .writer
                .run(DeleteUpload { id, owner: user.id })
                .await?;
            return Err(e);
        }
    };
    intake::accept(state, user.id, id, &path, &checked).await?;
    Ok(())
}

#[utoipa::path(delete, path = "/api/uploads/{id}", tag = "media",
    params(("id" = Id, Path)),
    responses(
        (status = 204, description = "Given up; its bytes are gone"),
        (status = 404, description = "No such upload, or not yours", body = ErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refuse_version(&headers) {
        return r;
    }
    let done = async {
        if unfinished(&state, id, user.id).await?.is_none() {
            return Err(not_found());
        }
        let held = state.uploads.take(id).await;
        if !state
            .writer
            .run(DeleteUpload { id, owner: user.id })
            .await?
        {
            return Err(not_found());
        }
        state
            .media
            .remove_partial(&state.config.media_dir, id)
            .await
            .map_err(store_error)?;
        drop(held);
        Ok(())
    };
    match done.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_read_as_tus_sends_it() {
        let mut h = HeaderMap::new();
        h.insert(
            "upload-metadata",
            HeaderValue::from_static("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential, filetype aW1hZ2UvanBlZw=="),
        );
        let m = metadata(&h).expect("parsed");
        assert_eq!(m["filename"], "world_domination_plan.pdf");
        assert_eq!(m["filetype"], "image/jpeg");
        assert_eq!(m["is_confidential"], "");
        h.insert("upload-metadata", HeaderValue::from_static("filename !!!"));
        assert!(metadata(&h).is_err());
    }

    #[test]
    fn expiry_is_an_http_date() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(1_780_000_000_000),
            "Thu, 28 May 2026 20:26:40 GMT"
        );
    }
}
