//! Writes to `media`: an upload recorded with its transcode job, and the
//! states that job moves it through.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::jobs::{NewJob, enqueue_tx};
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};

/// Attempts a transcode gets before its media is marked failed.
pub const TRANSCODE_ATTEMPTS: u32 = 3;

/// The job kind that transcodes an upload.
pub const VIDEO_JOB: &str = "video";

/// A `video` job's payload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VideoPayload {
    pub media_id: Id,
}

/// Records an upload and enqueues its transcode, in one transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateMedia {
    pub id: Id,
    pub owner: Id,
    pub size: i64,
    pub job: Id,
}

impl Command for CreateMedia {
    type Reply = Id;
    fn apply(self, conn: &Connection) -> Result<Id, CmdError> {
        let CreateMedia {
            id,
            owner,
            size,
            job,
        } = self;
        let now = now_ms();
        let payload = serde_json::to_string(&VideoPayload { media_id: id })
            .map_err(|e| CmdError::Internal(e.to_string()))?;
        let job = enqueue_tx(
            conn,
            &NewJob {
                id: job,
                kind: VIDEO_JOB.into(),
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
        Ok(id)
    }
}

/// A worker started on the media's transcode.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MediaProcessing {
    pub id: Id,
}

impl Command for MediaProcessing {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        conn.prepare_cached(
            "UPDATE media SET status = 'processing', updated_at = ? WHERE id = ? AND status <> 'ready'",
        )?
        .execute(params![now_ms(), self.id.0])?;
        Ok(())
    }
}

/// The outputs are stored; answers `false` when the media was deleted
/// (with its owner's account) while they were being made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MediaReady {
    pub id: Id,
    pub width: i64,
    pub height: i64,
    pub duration_ms: i64,
}

impl Command for MediaReady {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let n = conn
            .prepare_cached(
                "UPDATE media SET status = 'ready', width = ?, height = ?, duration_ms = ?,
                        error = NULL, updated_at = ? WHERE id = ?",
            )?
            .execute(params![
                self.width,
                self.height,
                self.duration_ms,
                now_ms(),
                self.id.0
            ])?;
        Ok(n == 1)
    }
}

/// The transcode will not run again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MediaFailed {
    pub id: Id,
    pub error: String,
}

impl Command for MediaFailed {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        conn.prepare_cached(
            "UPDATE media SET status = 'failed', error = ?, updated_at = ? WHERE id = ? AND status <> 'ready'",
        )?
        .execute(params![self.error, now_ms(), self.id.0])?;
        Ok(())
    }
}
