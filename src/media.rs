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
pub mod transcode;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::db::{CmdError, Command, Reply};
use crate::ids::{Id, now_ms};
use crate::jobs::queue::{Claimed, NewJob, enqueue_tx};
use crate::realtime::protocol::ServerFrame;

/// Attempts a transcode gets before its media is marked failed.
pub const TRANSCODE_ATTEMPTS: u32 = 3;

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
pub fn video_path(dir: &Path, id: Id) -> PathBuf {
    dir.join(video_name(id))
}
pub fn poster_path(dir: &Path, id: Id) -> PathBuf {
    dir.join(poster_name(id))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VideoPayload {
    pub media_id: Id,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Cmd {
    /// Records an upload and enqueues its transcode, in one transaction.
    Create {
        id: Id,
        owner: Id,
        size: i64,
        job: Id,
    },
    Processing {
        id: Id,
    },
    Ready {
        id: Id,
        width: i64,
        height: i64,
        duration_ms: i64,
    },
    Failed {
        id: Id,
        error: String,
    },
}

impl Cmd {
    pub fn apply(self, conn: &Connection) -> Result<Reply, CmdError> {
        let now = now_ms();
        match self {
            Cmd::Create {
                id,
                owner,
                size,
                job,
            } => {
                let payload = serde_json::to_string(&VideoPayload { media_id: id })
                    .map_err(|e| CmdError::Internal(e.to_string()))?;
                let job = enqueue_tx(
                    conn,
                    &NewJob {
                        id: job,
                        kind: "video".into(),
                        payload,
                        priority: 0,
                        max_attempts: TRANSCODE_ATTEMPTS,
                        idempotency_key: Some(format!("video:{id}")),
                        owner: Some(owner),
                    },
                )?;
                conn.prepare_cached(
                    "INSERT INTO media (id, owner_id, status, job_id, size_bytes, created_at, updated_at)
                     VALUES (?, ?, 'queued', ?, ?, ?, ?)",
                )?
                .execute(params![id.0, owner.0, job.0, size, now, now])?;
                Ok(Reply::Id(id))
            }
            Cmd::Processing { id } => {
                conn.prepare_cached(
                    "UPDATE media SET status = 'processing', updated_at = ? WHERE id = ? AND status <> 'ready'",
                )?
                .execute(params![now, id.0])?;
                Ok(Reply::Done)
            }
            Cmd::Ready {
                id,
                width,
                height,
                duration_ms,
            } => {
                let n = conn
                    .prepare_cached(
                        "UPDATE media SET status = 'ready', width = ?, height = ?, duration_ms = ?,
                                error = NULL, updated_at = ? WHERE id = ?",
                    )?
                    .execute(params![width, height, duration_ms, now, id.0])?;
                // Unchanged: the media was deleted (with its owner's account)
                // while it was being made.
                Ok(Reply::Changed(n == 1))
            }
            Cmd::Failed { id, error } => {
                conn.prepare_cached(
                    "UPDATE media SET status = 'failed', error = ?, updated_at = ? WHERE id = ? AND status <> 'ready'",
                )?
                .execute(params![error, now, id.0])?;
                Ok(Reply::Done)
            }
        }
    }
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

fn media_of(job: &Claimed) -> Option<Id> {
    serde_json::from_str::<VideoPayload>(&job.payload)
        .ok()
        .map(|p| p.media_id)
}

/// Tells the owner how their media is doing.
async fn push(state: &AppState, media: Id) {
    if let Ok(Some(view)) = get(&state.read, media).await
        && let Ok(value) = serde_json::to_value(&view)
    {
        state
            .push(view.owner_id, &ServerFrame::Media(value).encode())
            .await;
    }
}

/// Called by the worker with a running video job's progress.
pub async fn progress(state: &AppState, job: &Claimed, _p: f64) {
    if job.kind == "video"
        && let Some(m) = media_of(job)
    {
        push(state, m).await;
    }
}

/// Called by the worker after each attempt: a job that will not run again
/// fails its media; the owner hears either way.
pub async fn job_finished(state: &AppState, job: &Claimed) {
    if job.kind != "video" {
        return;
    }
    let Some(m) = media_of(job) else { return };
    if let Ok(Some(j)) = crate::jobs::queue::get(&state.read, job.id).await
        && matches!(j.status.as_str(), "dead" | "cancelled")
    {
        let error = j.last_error.unwrap_or_else(|| j.status.clone());
        let _ = state
            .writer
            .exec(Command::Media(Cmd::Failed { id: m, error }))
            .await;
    }
    push(state, m).await;
}

/// Whether `viewer` may see media `id`: its owner; anyone signed in when
/// it is on a public post; the owner's friends when on a friends-only one.
pub async fn visible_to(pool: &SqlitePool, id: Id, viewer: Id) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM media m WHERE m.id = ?1 AND (m.owner_id = ?2 OR EXISTS (
            SELECT 1 FROM posts p WHERE p.media_id = m.id AND (p.visibility = 'public' OR EXISTS (
                SELECT 1 FROM friendships f WHERE f.user_id = ?2 AND f.friend_id = p.author_id))))",
    )
    .bind(id.0)
    .bind(viewer.0)
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
