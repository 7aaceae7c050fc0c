//! Writes to `media` and `uploads`: an upload recorded with its processing
//! job (within its owner's quota), the states that job moves it through,
//! resumable uploads from creation to completion, avatars, and the sweeps
//! of what was left behind.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::jobs::{NewJob, enqueue_tx};
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};
use kith_core::media::{Attachment, MediaKind};

/// Attempts a transcode gets before its media is marked failed.
pub const TRANSCODE_ATTEMPTS: u32 = 3;

/// The job kind that transcodes an upload.
pub const VIDEO_JOB: &str = "video";
/// The job kind that makes an image's variants (photos and avatars).
pub const IMAGE_JOB: &str = "image";

/// A `video` or `image` job's payload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VideoPayload {
    pub media_id: Id,
}

/// Bytes user `?1` has stored or reserved: their media, and the declared
/// length of their unfinished uploads but `?2` (the one at hand). Read by
/// the quota check here and by the early check before an upload's bytes.
pub const USED_BYTES: &str =
    "SELECT (SELECT coalesce(sum(size_bytes), 0) FROM media WHERE owner_id = ?1)
          + (SELECT coalesce(sum(length), 0) FROM uploads WHERE owner_id = ?1 AND id <> ?2)";

/// The refusal of `size` more bytes for a user who has `used` of `quota`;
/// `None` when they fit.
pub fn over_quota(used: i64, size: i64, quota: i64) -> Option<String> {
    (used.saturating_add(size) > quota).then(|| {
        format!(
            "over your storage quota: {} MB used of {} MB, this upload needs {} MB",
            (used + 999_999) / 1_000_000,
            quota / 1_000_000,
            (size + 999_999) / 1_000_000
        )
    })
}

/// The refusal of an upload that would pass the quota.
fn check_quota(
    conn: &Connection,
    owner: Id,
    except: Id,
    size: i64,
    quota: i64,
) -> Result<(), CmdError> {
    let used: i64 = conn
        .prepare_cached(USED_BYTES)?
        .query_row(params![owner.0, except.0], |r| r.get(0))?;
    match over_quota(used, size, quota) {
        Some(msg) => Err(CmdError::TooLarge(msg)),
        None => Ok(()),
    }
}

/// Records an upload and enqueues its processing, in one transaction,
/// within the owner's quota. A resumable upload's row goes in the same
/// transaction. Repeating it (same id) changes nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateMedia {
    pub id: Id,
    pub owner: Id,
    pub kind: MediaKind,
    pub size: i64,
    pub sha256: String,
    pub job: Id,
    pub quota: i64,
}

impl Command for CreateMedia {
    type Reply = Id;
    fn apply(self, conn: &Connection) -> Result<Id, CmdError> {
        let CreateMedia {
            id,
            owner,
            kind,
            size,
            sha256,
            job,
            quota,
        } = self;
        let exists = conn
            .prepare_cached("SELECT 1 FROM media WHERE id = ? AND owner_id = ?")?
            .exists(params![id.0, owner.0])?;
        if exists {
            return Ok(id);
        }
        check_quota(conn, owner, id, size, quota)?;
        conn.prepare_cached("DELETE FROM uploads WHERE id = ? AND owner_id = ?")?
            .execute(params![id.0, owner.0])?;
        let now = now_ms();
        let payload = serde_json::to_string(&VideoPayload { media_id: id })
            .map_err(|e| CmdError::Internal(e.to_string()))?;
        let job_kind = match kind {
            MediaKind::Video => VIDEO_JOB,
            MediaKind::Image | MediaKind::Avatar => IMAGE_JOB,
        };
        let job = enqueue_tx(
            conn,
            &NewJob {
                id: job,
                kind: job_kind.into(),
                payload,
                priority: 0,
                max_attempts: TRANSCODE_ATTEMPTS,
                idempotency_key: Some(format!("{job_kind}:{id}")),
                owner: Some(owner),
            },
        )?;
        conn.prepare_cached(
            "INSERT INTO media (id, owner_id, kind, status, job_id, size_bytes, sha256, created_at, updated_at)
             VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            id.0,
            owner.0,
            kind.as_str(),
            job.0,
            size,
            sha256,
            now,
            now
        ])?;
        Ok(id)
    }
}

/// A worker started on the media's processing.
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
/// (with its owner's account) while they were being made. An image's
/// blurhash and variant sizes come with it; a finished avatar becomes its
/// owner's (unless a newer one already has).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MediaReady {
    pub id: Id,
    pub width: i64,
    pub height: i64,
    pub duration_ms: Option<i64>,
    pub blurhash: Option<String>,
    /// JSON: `[{"name","width","height"}]`.
    pub variants: Option<String>,
}

impl Command for MediaReady {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let n = conn
            .prepare_cached(
                "UPDATE media SET status = 'ready', width = ?, height = ?, duration_ms = ?,
                        blurhash = ?, variants = ?, error = NULL, updated_at = ? WHERE id = ?",
            )?
            .execute(params![
                self.width,
                self.height,
                self.duration_ms,
                self.blurhash,
                self.variants,
                now_ms(),
                self.id.0
            ])?;
        conn.prepare_cached(
            "UPDATE users SET avatar_id = ?1
             WHERE id = (SELECT owner_id FROM media WHERE id = ?1 AND kind = 'avatar')
               AND (avatar_id IS NULL OR avatar_id < ?1)",
        )?
        .execute(params![self.id.0])?;
        Ok(n == 1)
    }
}

/// The processing will not run again.
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

/// A resumable upload is created: its length counts against the quota
/// from now on. Repeating it (same id) changes nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateUpload {
    pub id: Id,
    pub owner: Id,
    pub length: i64,
    pub filename: String,
    pub filetype: String,
    pub expires_at: i64,
    pub quota: i64,
}

impl Command for CreateUpload {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let exists = conn
            .prepare_cached("SELECT 1 FROM uploads WHERE id = ?")?
            .exists(params![self.id.0])?;
        if exists {
            return Ok(());
        }
        check_quota(conn, self.owner, self.id, self.length, self.quota)?;
        conn.prepare_cached(
            "INSERT INTO uploads (id, owner_id, length, filename, filetype, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            self.id.0,
            self.owner.0,
            self.length,
            self.filename,
            self.filetype,
            now_ms(),
            self.expires_at
        ])?;
        Ok(())
    }
}

/// An unfinished upload is given up (its owner's `DELETE`, or its bytes
/// were refused); answers whether there was one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteUpload {
    pub id: Id,
    pub owner: Id,
}

impl Command for DeleteUpload {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let n = conn
            .prepare_cached("DELETE FROM uploads WHERE id = ? AND owner_id = ?")?
            .execute(params![self.id.0, self.owner.0])?;
        Ok(n == 1)
    }
}

/// Unfinished uploads past their expiry, at most `limit`, are deleted;
/// answers their ids (their bytes are the caller's to remove).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExpireUploads {
    pub now: i64,
    pub limit: i64,
}

impl Command for ExpireUploads {
    type Reply = Vec<Id>;
    fn apply(self, conn: &Connection) -> Result<Vec<Id>, CmdError> {
        let ids: Vec<i64> = conn
            .prepare_cached("DELETE FROM uploads WHERE id IN (SELECT id FROM uploads WHERE expires_at <= ? ORDER BY expires_at LIMIT ?) RETURNING id")?
            .query_map(params![self.now, self.limit], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids.into_iter().map(Id).collect())
    }
}

/// Media created before `before` that nothing carries (no post, no
/// message, no one's avatar), at most `limit` items, are deleted; answers
/// their ids and kinds (their files are the caller's to remove).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepUnattached {
    pub before: i64,
    pub limit: i64,
}

impl Command for SweepUnattached {
    type Reply = Vec<(Id, MediaKind)>;
    fn apply(self, conn: &Connection) -> Result<Vec<(Id, MediaKind)>, CmdError> {
        let rows: Vec<(i64, String)> = conn
            .prepare_cached(
                "DELETE FROM media WHERE id IN (
                   SELECT m.id FROM media m
                   WHERE m.created_at < ?
                     AND NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.media_id = m.id)
                     AND NOT EXISTS (SELECT 1 FROM message_media mm WHERE mm.media_id = m.id)
                     AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_id = m.id)
                     AND NOT EXISTS (SELECT 1 FROM posts p WHERE p.media_id = m.id)
                   ORDER BY m.created_at LIMIT ?)
                 RETURNING id, kind",
            )?
            .query_map(params![self.before, self.limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows
            .into_iter()
            .map(|(id, kind)| (Id(id), MediaKind::parse(&kind).unwrap_or(MediaKind::Video)))
            .collect())
    }
}

/// The user goes back to the default avatar.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClearAvatar {
    pub user: Id,
}

impl Command for ClearAvatar {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        conn.prepare_cached("UPDATE users SET avatar_id = NULL WHERE id = ?")?
            .execute(params![self.user.0])?;
        Ok(())
    }
}

/// Attaches `items` (in order) to the post or message `target` in
/// `table` (`post_media` or `message_media`, keyed by `key`): each must
/// be `owner`'s own photo or video (else NotFound, as if it did not exist).
pub fn attach_tx(
    conn: &Connection,
    table: Attach,
    target: Id,
    owner: Id,
    items: &[Attachment],
) -> Result<(), CmdError> {
    kith_core::media::check_attachments(items).map_err(CmdError::Invalid)?;
    for (position, item) in items.iter().enumerate() {
        let kind: Option<String> = conn
            .prepare_cached("SELECT kind FROM media WHERE id = ? AND owner_id = ?")?
            .query_row(params![item.id.0, owner.0], |r| r.get(0))
            .optional()?;
        match kind.as_deref() {
            Some("image" | "video") => {}
            Some(_) => {
                return Err(CmdError::Invalid(
                    "an avatar cannot be attached; upload the photo again".into(),
                ));
            }
            None => return Err(CmdError::NotFound(format!("media {} not found", item.id))),
        }
        let alt = item.alt.as_deref().map(str::trim).filter(|a| !a.is_empty());
        conn.prepare_cached(table.insert())?.execute(params![
            target.0,
            position as i64,
            item.id.0,
            alt
        ])?;
    }
    Ok(())
}

/// What carries media in order: a post or a message.
#[derive(Clone, Copy, Debug)]
pub enum Attach {
    Post,
    Message,
}

impl Attach {
    /// Its table of attachments, and the column naming the carrier.
    pub fn table(self) -> (&'static str, &'static str) {
        match self {
            Attach::Post => ("post_media", "post_id"),
            Attach::Message => ("message_media", "message_id"),
        }
    }

    fn insert(self) -> &'static str {
        match self {
            Attach::Post => {
                "INSERT INTO post_media (post_id, position, media_id, alt) VALUES (?, ?, ?, ?)"
            }
            Attach::Message => {
                "INSERT INTO message_media (message_id, position, media_id, alt) VALUES (?, ?, ?, ?)"
            }
        }
    }
}
