//! Uploaded videos (`media`): upload, transcoding as a job, serving.
//!
//! An upload is streamed to disk (never held in memory), sniffed (magic
//! bytes, then ffprobe), and answered 202 at once; a `video` job does the
//! transcoding on a worker, at low CPU priority, off the request path.
//! Outputs are served with Range, ETag and long-lived caching.

pub mod routes;
pub mod serve;
pub mod sniff;
pub mod store;
pub mod tools;
pub mod transcode;

use std::path::{Path, PathBuf};

use serde::Serialize;
use sqlx::SqlitePool;
use utoipa::ToSchema;

use crate::store::visibility::MEDIA_VISIBLE;
use kith_core::ids::Id;

/// Where a media item's files live under the media dir.
pub fn upload_path(dir: &Path, id: Id) -> PathBuf {
    dir.join("uploads").join(id.to_string())
}
pub fn video_name(id: Id) -> String {
    format!("{id}.mp4")
}
pub fn poster_name(id: Id) -> String {
    format!("{id}.jpg")
}

/// A media item as its viewers see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MediaView {
    pub id: Id,
    /// `queued`, `processing`, `ready` or `failed`.
    pub status: String,
    /// Transcoding progress, 0 to 1.
    pub progress: f64,
    pub url: Option<String>,
    pub poster_url: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    #[serde(skip)]
    pub owner_id: i64,
}

#[derive(sqlx::FromRow)]
struct MediaRow {
    id: i64,
    owner_id: i64,
    status: String,
    width: Option<i64>,
    height: Option<i64>,
    duration_ms: Option<i64>,
    error: Option<String>,
    progress: Option<f64>,
    job_status: Option<String>,
    job_error: Option<String>,
}

pub async fn get(pool: &SqlitePool, id: Id) -> Result<Option<MediaView>, sqlx::Error> {
    let row: Option<MediaRow> = sqlx::query_as(
        "SELECT m.id, m.owner_id, m.status, m.width, m.height, m.duration_ms, m.error,
                j.progress, j.status AS job_status, j.last_error AS job_error
         FROM media m LEFT JOIN jobs j ON j.id = m.job_id WHERE m.id = ?",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let id = Id(r.id);
        let ready = r.status == "ready";
        // A job that died or was cancelled fails its media, whatever the
        // media row had reached.
        let (status, error) = match r.job_status.as_deref() {
            Some("dead" | "cancelled") if !ready => ("failed".to_string(), r.error.or(r.job_error)),
            _ => (r.status, r.error),
        };
        MediaView {
            id,
            progress: if ready {
                1.0
            } else {
                r.progress.unwrap_or(0.0)
            },
            url: ready.then(|| format!("/media/{id}.mp4")),
            poster_url: ready.then(|| format!("/media/{id}.jpg")),
            width: r.width,
            height: r.height,
            duration_ms: r.duration_ms,
            error,
            status,
            owner_id: r.owner_id,
        }
    }))
}

/// Whether `viewer` may see media `id`: its owner, and whoever may see a
/// post it is on ([`MEDIA_VISIBLE`]: never across a block).
pub async fn visible_to(pool: &SqlitePool, id: Id, viewer: Id) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT 1 FROM media m WHERE m.id = ?2 AND {MEDIA_VISIBLE}"
    ))
    .bind(viewer.0)
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Whether media `id` is on a public post (then shared caches may keep it).
pub async fn is_public(pool: &SqlitePool, id: Id) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM posts WHERE media_id = ? AND visibility = 'public' LIMIT 1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}
