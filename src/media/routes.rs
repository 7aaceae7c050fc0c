//! `POST /api/media` (a whole upload in a form), `GET /api/media/{id}`, and
//! the files under `/media/`.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::MediaView;
use super::intake::{self, Want};
use crate::auth::User;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Path};
use crate::state::AppState;
use kith_core::ids::Id;
use kith_core::media::Output;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(get_media))
}

#[utoipa::path(post, path = "/api/media", tag = "media",
    request_body(content_type = "multipart/form-data", description = "A photo or video in the field `file`"),
    responses(
        (status = 202, description = "Stored; processing is queued", body = MediaView),
        (status = 400, description = "No `file` field, or a malformed form", body = ErrorBody),
        (status = 408, description = "No bytes arrived for 30 s", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit, or over the quota", body = ErrorBody),
        (status = 415, description = "Not a photo or video kith takes, or not what it was declared", body = ErrorBody),
        (status = 422, description = "A truncated or corrupt image, or one of too many pixels", body = ErrorBody),
    ))]
async fn upload(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let mut form = form.map_err(|r| {
        AppError::UnsupportedMediaType(format!("expected multipart/form-data: {}", r.body_text()))
    })?;
    // The form's length bounds the file's: a client that says how much it
    // sends hears at once whether it fits.
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        intake::check_room(&state, user.id, len.saturating_sub(FORM_OVERHEAD)).await?;
    }
    let id = crate::db::keyed::new_id();
    let max = state.config.max_upload_bytes;
    while let Some(field) = form.next_field().await.map_err(form_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let declared = field.content_type().map(str::to_owned);
        let chunks = futures_util::stream::unfold(field, |mut f| async move {
            match f.chunk().await {
                Ok(Some(c)) => Some((Ok(c), f)),
                Ok(None) => None,
                Err(e) => Some((Err(form_error(e)), f)),
            }
        });
        let spooled = intake::spool(&state, id, Box::pin(chunks), max).await?;
        let checked = intake::check(&state, &spooled.path, declared.as_deref(), Want::Any).await?;
        let view = intake::accept(&state, user.id, id, &spooled.path, &checked).await?;
        spooled.keep();
        return Ok((StatusCode::ACCEPTED, Json(view)).into_response());
    }
    Err(AppError::BadRequest("the form has no `file` field".into()))
}

/// What a multipart form adds around its file, at most (boundaries and
/// part headers): the early quota check allows for it.
const FORM_OVERHEAD: u64 = 16 * 1024;

fn form_error(e: axum::extract::multipart::MultipartError) -> AppError {
    let text = e.body_text();
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge("the upload is larger than the limit".into())
    } else if text.contains("no bytes arrived") {
        AppError::Timeout(format!("the upload stopped: {text}"))
    } else {
        AppError::BadRequest(format!("malformed upload: {text}"))
    }
}

#[utoipa::path(get, path = "/api/media/{id}", tag = "media",
    params(("id" = Id, Path)),
    responses(
        (status = 200, body = MediaView),
        (status = 404, description = "No such media, or not visible to you", body = ErrorBody),
    ))]
async fn get_media(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<Json<MediaView>, AppError> {
    if !super::visible_to(&state.read, id, user.id).await? {
        return Err(AppError::not_found("media"));
    }
    let view = super::get(&state.reader, id)?.ok_or_else(|| AppError::not_found("media"))?;
    Ok(Json(view))
}

/// `GET /media/{name}`: an output of a media item ([`Output`] names them).
pub async fn file(
    State(state): State<AppState>,
    user: User,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (id, output) = Output::parse(&name).ok_or_else(|| AppError::not_found("media"))?;
    if !super::visible_to(&state.read, id, user.id).await? {
        return Err(AppError::not_found("media"));
    }
    // Finished outputs never change: cache them for good. Shared caches
    // may keep only what is on a public post.
    let cache = if super::is_public(&state.read, id).await? {
        "public, max-age=31536000, immutable"
    } else {
        "private, max-age=31536000, immutable"
    };
    state
        .media
        .serve(
            &state.config.media_dir,
            &name,
            output.content_type(),
            cache,
            &headers,
        )
        .await
}
