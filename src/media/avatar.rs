//! Avatars: `PUT /api/me/avatar` (an image, made square by the `image`
//! job), `DELETE /api/me/avatar`, and the generated default for a user
//! without one, `GET /api/users/{id}/avatar.svg`.

use axum::body::Body;
use axum::extract::State;
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
use crate::store::media::ClearAvatar;
use kith_core::ids::Id;
use kith_core::media::default_avatar_svg;

/// The largest avatar upload: a phone photo, uncropped.
const MAX_AVATAR_BYTES: u64 = 30 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_avatar, delete_avatar))
        .routes(routes!(default_avatar))
}

#[utoipa::path(put, path = "/api/me/avatar", tag = "users",
    request_body(content_type = "image/*", description = "The image as the body (or a form with the field `file`)"),
    responses(
        (status = 202, description = "Stored; the square variants replace the avatar once made", body = MediaView),
        (status = 413, description = "Larger than 30 MB, or over the quota", body = ErrorBody),
        (status = 415, description = "Not a JPEG, PNG, WebP or GIF image", body = ErrorBody),
        (status = 422, description = "A truncated or corrupt image, or one of too many pixels", body = ErrorBody),
    ))]
async fn put_avatar(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limit = MAX_AVATAR_BYTES.min(state.config.max_upload_bytes);
    let id = crate::db::keyed::new_id();
    let spooled = if declared
        .as_deref()
        .is_some_and(|c| c.starts_with("multipart/form-data"))
    {
        let boundary = declared
            .as_deref()
            .and_then(|c| multer::parse_boundary(c).ok())
            .ok_or_else(|| AppError::BadRequest("a form without a boundary".into()))?;
        let mut form = multer::Multipart::new(body.into_data_stream(), boundary);
        let mut found = None;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| AppError::BadRequest(format!("malformed form: {e}")))?
        {
            if field.name() == Some("file") {
                let ct = field.content_type().map(|m| m.to_string());
                let chunks = Box::pin(futures_util::StreamExt::map(field, |r| {
                    r.map_err(|e| AppError::BadRequest(format!("malformed form: {e}")))
                }));
                found = Some((intake::spool(&state, id, chunks, limit).await?, ct));
                break;
            }
        }
        let (spooled, ct) =
            found.ok_or_else(|| AppError::BadRequest("the form has no `file` field".into()))?;
        (spooled, ct)
    } else {
        let chunks = Box::pin(body.into_data_stream());
        (intake::spool(&state, id, chunks, limit).await?, declared)
    };
    let (spooled, declared) = spooled;
    intake::check_room(&state, user.id, spooled.size).await?;
    let checked = intake::check(&state, &spooled.path, declared.as_deref(), Want::Avatar).await?;
    let view = intake::accept(&state, user.id, id, &spooled.path, &checked).await?;
    spooled.keep();
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

#[utoipa::path(delete, path = "/api/me/avatar", tag = "users",
    responses((status = 204, description = "Back to the generated default")))]
async fn delete_avatar(State(state): State<AppState>, user: User) -> Result<StatusCode, AppError> {
    state.writer.run(ClearAvatar { user: user.id }).await?;
    state.users.invalidate(&user.id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/users/{id}/avatar.svg", tag = "users",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "Initials on a colour from the user id", content_type = "image/svg+xml"),
        (status = 404, body = ErrorBody),
    ))]
async fn default_avatar(
    State(state): State<AppState>,
    _user: User,
    Path(id): Path<Id>,
) -> Result<Response, AppError> {
    let name: String = sqlx::query_scalar("SELECT display_name FROM users WHERE id = ?")
        .bind(id.0)
        .fetch_optional(&state.read)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            // A renamed user's initials show within the hour.
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        default_avatar_svg(id, &name),
    )
        .into_response())
}
