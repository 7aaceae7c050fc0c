//! `POST /api/media`, `GET /api/media/{id}`, and the files under `/media/`.

use std::path::PathBuf;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{MediaView, sniff, upload_path};
use crate::auth::User;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Path};
use crate::state::AppState;
use crate::store::media::CreateMedia;
use kith_core::ids::Id;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(get_media))
}

#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    pub id: Id,
    pub status: String,
}

/// Deletes a partly written upload unless disarmed.
struct Cleanup(Option<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[utoipa::path(post, path = "/api/media", tag = "media",
    request_body(content_type = "multipart/form-data", description = "A video in the field `file`"),
    responses(
        (status = 202, description = "Stored; transcoding is queued", body = Uploaded),
        (status = 400, description = "No `file` field, or a malformed form", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
        (status = 415, description = "Not a video", body = ErrorBody),
    ))]
async fn upload(
    State(state): State<AppState>,
    user: User,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let mut form = form.map_err(|r| {
        AppError::UnsupportedMediaType(format!("expected multipart/form-data: {}", r.body_text()))
    })?;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::BadRequest(format!("malformed upload: {}", e.body_text()))
        }
    };
    let id = Id::generate();
    let dir = state.config.media_dir.join("uploads");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let path = upload_path(&state.config.media_dir, id);
    let mut cleanup = Cleanup(Some(path.clone()));
    let max = state.config.max_upload_bytes;
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(512);
    let mut found = false;
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        found = true;
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            size += chunk.len() as u64;
            if size > max {
                return Err(AppError::PayloadTooLarge);
            }
            if head.len() < 512 {
                let take = (512 - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            out.write_all(&chunk)
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
        }
        out.flush()
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        break;
    }
    if !found {
        return Err(AppError::BadRequest("the form has no `file` field".into()));
    }
    if !sniff::looks_like_video(&head) {
        return Err(AppError::UnsupportedMediaType(
            "that file is not a video".into(),
        ));
    }
    if let Some(tools) = &state.tools
        && sniff::probe(&tools.ffprobe, &path).await.is_none()
    {
        return Err(AppError::UnsupportedMediaType(
            "that file is not a video ffmpeg can read".into(),
        ));
    }
    state.media.keep_upload(id, &path).await.map_err(|e| {
        tracing::warn!(error = %e, "storing an upload");
        AppError::Unavailable("the media store cannot be reached; retry".into())
    })?;
    state
        .writer
        .run(CreateMedia {
            id,
            owner: user.id,
            size: size as i64,
            job: Id::generate(),
        })
        .await?;
    cleanup.0 = None;
    state.wake_workers.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(Uploaded {
            id,
            status: "queued".into(),
        }),
    )
        .into_response())
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
    let view = super::get(&state.read, id)
        .await?
        .ok_or_else(|| AppError::not_found("media"))?;
    Ok(Json(view))
}

/// `GET /media/{id}.mp4` and `GET /media/{id}.jpg`.
pub async fn file(
    State(state): State<AppState>,
    user: User,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (stem, content_type) = if let Some(s) = name.strip_suffix(".mp4") {
        (s, "video/mp4")
    } else if let Some(s) = name.strip_suffix(".jpg") {
        (s, "image/jpeg")
    } else {
        return Err(AppError::not_found("media"));
    };
    let id: Id = stem.parse().map_err(|_| AppError::not_found("media"))?;
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
            content_type,
            cache,
            &headers,
        )
        .await
}
