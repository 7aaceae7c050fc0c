//! A complete upload, however it arrived (a form, a resumable upload, an
//! avatar `PUT`), is checked and becomes a media item: one path, so every
//! way in refuses the same files with the same errors.
//!
//! Checked on the request, cheaply, so that a refusal is a 4xx and nothing
//! is stored: the first bytes (what it is), the declared type against them,
//! an image's header (its pixel count, before any pixel is decoded) and its
//! structure (a truncated file), a video's ffprobe. Decoding and
//! transcoding are the job's.

use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::image::{ImageError, dimensions};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::media::{CreateMedia, USED_BYTES, over_quota};
use kith_core::ids::Id;
use kith_core::media::MediaKind;
use kith_core::sniff::{ImageFormat, Sniffed, image_is_whole, sniff};

/// The largest image read whole for its structure check: above any
/// camera's JPEG (a 50 MP one is ~25 MB).
const MAX_IMAGE_BYTES: u64 = 100 * 1024 * 1024;

/// What may be uploaded where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// A photo or a video (posts and messages).
    Any,
    /// A picture for a profile.
    Avatar,
}

/// What was accepted.
pub struct Checked {
    pub kind: MediaKind,
    pub size: u64,
    pub sha256: String,
}

/// The file's digest and first bytes, read once.
async fn digest(path: &Path) -> Result<(u64, String, Vec<u8>), AppError> {
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(512);
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        if n == 0 {
            break;
        }
        if head.len() < 512 {
            let take = (512 - head.len()).min(n);
            head.extend_from_slice(&buf[..take]);
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((size, hex, head))
}

/// The family and format a declared content type names, if it names one.
fn declared_mismatch(declared: Option<&str>, sniffed: Sniffed) -> Option<String> {
    let declared = declared?.split(';').next()?.trim().to_ascii_lowercase();
    let found = match sniffed {
        Sniffed::Image(f) => f.mime().to_string(),
        Sniffed::Video => "video".to_string(),
        _ => return None,
    };
    let agrees = match sniffed {
        Sniffed::Image(f) => {
            declared == f.mime() || (f == ImageFormat::Jpeg && declared == "image/jpg")
        }
        Sniffed::Video => declared.starts_with("video/"),
        _ => true,
    };
    let claims = declared.starts_with("image/") || declared.starts_with("video/");
    (claims && !agrees)
        .then(|| format!("the file was declared {declared} but its bytes are {found}"))
}

fn unsupported() -> AppError {
    AppError::UnsupportedMediaType(
        "not a photo or video kith takes: JPEG, PNG, WebP or GIF images; MP4, QuickTime, \
         WebM/Matroska, AVI, Ogg or MPEG-TS video"
            .into(),
    )
}

/// Checks the complete upload at `path`; `declared` is the content type the
/// client gave, if any.
pub async fn check(
    state: &AppState,
    path: &Path,
    declared: Option<&str>,
    want: Want,
) -> Result<Checked, AppError> {
    let (size, sha256, head) = digest(path).await?;
    let sniffed = sniff(&head);
    if let Some(msg) = declared_mismatch(declared, sniffed) {
        return Err(AppError::UnsupportedMediaType(msg));
    }
    match sniffed {
        Sniffed::UnsupportedImage(name) => Err(AppError::UnsupportedMediaType(format!(
            "{name} images cannot be decoded by this server; send JPEG, PNG, WebP or GIF \
             (phones can export or share as JPEG)"
        ))),
        Sniffed::Unknown => Err(unsupported()),
        Sniffed::Video if want == Want::Avatar => Err(AppError::UnsupportedMediaType(
            "an avatar must be an image (JPEG, PNG, WebP or GIF)".into(),
        )),
        Sniffed::Video => {
            if let Some(tools) = &state.tools
                && super::sniff::probe(&tools.ffprobe, path).await.is_none()
            {
                return Err(AppError::UnsupportedMediaType(
                    "that file is not a video ffmpeg can read".into(),
                ));
            }
            Ok(Checked {
                kind: MediaKind::Video,
                size,
                sha256,
            })
        }
        Sniffed::Image(format) => {
            if size > MAX_IMAGE_BYTES {
                return Err(AppError::TooLarge(format!(
                    "an image may be at most {} MB",
                    MAX_IMAGE_BYTES / 1024 / 1024
                )));
            }
            let p = path.to_owned();
            tokio::task::spawn_blocking(move || check_image(&p, format))
                .await
                .map_err(|e| AppError::Internal(e.into()))??;
            Ok(Checked {
                kind: if want == Want::Avatar {
                    MediaKind::Avatar
                } else {
                    MediaKind::Image
                },
                size,
                sha256,
            })
        }
    }
}

fn check_image(path: &Path, format: ImageFormat) -> Result<(), AppError> {
    let bytes = std::fs::read(path).map_err(|e| AppError::Internal(e.into()))?;
    if !image_is_whole(format, &bytes) {
        return Err(AppError::invalid(
            "the image is truncated or corrupt; upload it again",
        ));
    }
    match dimensions(path) {
        Ok(_) => Ok(()),
        Err(e @ ImageError::TooManyPixels { .. }) => Err(AppError::invalid(e.to_string())),
        Err(ImageError::Io(e)) => Err(AppError::Internal(e.into())),
        Err(e) => Err(AppError::invalid(e.to_string())),
    }
}

/// Stores the checked upload at `path` as media `id` of `owner` and
/// enqueues its processing; answers the item as accepted. Repeating it
/// changes nothing.
pub async fn accept(
    state: &AppState,
    owner: Id,
    id: Id,
    path: &Path,
    checked: &Checked,
) -> Result<super::MediaView, AppError> {
    state.media.keep_upload(id, path).await.map_err(|e| {
        tracing::warn!(error = %e, "storing an upload");
        AppError::Unavailable("the media store cannot be reached; retry".into())
    })?;
    state
        .writer
        .run(CreateMedia {
            id,
            owner,
            kind: checked.kind,
            size: i64::try_from(checked.size).unwrap_or(i64::MAX),
            sha256: checked.sha256.clone(),
            job: crate::db::keyed::new_id(),
            quota: i64::try_from(state.config.user_quota_bytes).unwrap_or(i64::MAX),
        })
        .await?;
    state.wake_workers.notify_one();
    Ok(super::MediaView::accepted(
        id,
        checked.kind,
        i64::try_from(checked.size).unwrap_or(i64::MAX),
        checked.sha256.clone(),
        owner.0,
    ))
}

/// Refuses an upload of `size` bytes (when known up front) over the size
/// limit or what is left of the owner's quota, before any byte is stored.
pub async fn check_room(state: &AppState, owner: Id, size: u64) -> Result<(), AppError> {
    let max = state.config.max_upload_bytes;
    if size > max {
        return Err(AppError::TooLarge(format!(
            "the upload is {size} bytes; at most {max} are accepted"
        )));
    }
    let used: i64 = sqlx::query_scalar(USED_BYTES)
        .bind(owner.0)
        .bind(0_i64)
        .fetch_one(&state.read)
        .await?;
    let quota = i64::try_from(state.config.user_quota_bytes).unwrap_or(i64::MAX);
    match over_quota(used, i64::try_from(size).unwrap_or(i64::MAX), quota) {
        Some(msg) => Err(AppError::TooLarge(msg)),
        None => Ok(()),
    }
}

/// Deletes a spooled upload unless disarmed (an error or a dropped request
/// leaves nothing behind).
pub struct Spooled {
    pub path: std::path::PathBuf,
    pub size: u64,
    armed: bool,
}

impl Spooled {
    /// The file is the store's now.
    pub fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Streams a body to `uploads/{id}` under the media dir, at most `limit`
/// bytes (413 above, with what was written removed).
pub async fn spool<S, E>(
    state: &AppState,
    id: Id,
    mut body: S,
    limit: u64,
) -> Result<Spooled, AppError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: Into<AppError>,
{
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let path = super::upload_path(&state.config.media_dir, id);
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    let mut spooled = Spooled {
        path,
        size: 0,
        armed: true,
    };
    let mut out = tokio::fs::File::create(&spooled.path)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Into::into)?;
        spooled.size += chunk.len() as u64;
        if spooled.size > limit {
            return Err(AppError::TooLarge(format!(
                "the upload is larger than {limit} bytes"
            )));
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    out.flush()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(spooled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_type_must_agree_with_the_bytes() {
        let jpeg = Sniffed::Image(ImageFormat::Jpeg);
        assert_eq!(declared_mismatch(Some("image/jpeg"), jpeg), None);
        assert_eq!(declared_mismatch(Some("image/jpg"), jpeg), None);
        assert_eq!(declared_mismatch(None, jpeg), None);
        assert_eq!(
            declared_mismatch(Some("application/octet-stream"), jpeg),
            None
        );
        assert!(declared_mismatch(Some("image/png"), jpeg).is_some());
        assert!(declared_mismatch(Some("video/mp4"), jpeg).is_some());
        assert_eq!(
            declared_mismatch(Some("video/quicktime"), Sniffed::Video),
            None
        );
        assert!(declared_mismatch(Some("image/gif"), Sniffed::Video).is_some());
    }
}
