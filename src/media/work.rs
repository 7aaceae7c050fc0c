//! What every media job kind shares: the tables it updates, the owner it
//! tells, the store it reads uploads from and puts outputs in.

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::SqlitePool;

use crate::db::Writer;
use crate::fanout::Fanout;
use crate::jobs::job::JobError;
use crate::media::store::MediaStore;
use crate::store::jobs::Claimed;
use crate::store::media::{MediaFailed, VideoPayload};
use kith_core::ids::Id;
use kith_core::protocol::ServerFrame;

/// A media job's handles.
#[derive(Clone)]
pub struct MediaWork {
    /// The media rows and their jobs, for what the owner is told.
    pub read: SqlitePool,
    /// The media row as clients see it ([`super::get`]).
    pub reader: Arc<crate::db::Reader>,
    pub writer: Writer,
    /// The owner hears progress live.
    pub fanout: Fanout,
    /// Where uploads are fetched from and outputs go.
    pub media: MediaStore,
    pub media_dir: PathBuf,
}

impl MediaWork {
    /// What the media jobs use of a node.
    pub fn of(state: &crate::state::AppState) -> MediaWork {
        MediaWork {
            read: state.read.clone(),
            reader: state.reader.clone(),
            writer: state.writer.clone(),
            fanout: state.fanout.clone(),
            media: state.media.clone(),
            media_dir: state.config.media_dir.clone(),
        }
    }

    /// Tells the owner how their media is doing.
    pub async fn tell_owner(&self, media: Id) {
        if let Ok(Some(view)) = super::get(&self.reader, media)
            && let Ok(value) = serde_json::to_value(&view)
        {
            self.fanout
                .push(Id(view.owner_id), &ServerFrame::Media(value).encode())
                .await;
        }
    }

    /// After each attempt: a job that will not run again fails its media;
    /// the owner hears either way.
    pub async fn settle(&self, job: &Claimed) {
        let Some(m) = media_of(job) else { return };
        if let Ok(Some(j)) = crate::store::jobs::get(&self.read, job.id).await
            && matches!(j.status.as_str(), "dead" | "cancelled")
        {
            let error = j.last_error.unwrap_or_else(|| j.status.clone());
            let _ = self.writer.run(MediaFailed { id: m, error }).await;
        }
        self.tell_owner(m).await;
    }

    /// The upload of media `id` as a local file (downloaded to `spool` from
    /// a bucket); a missing upload fails the job for good.
    pub async fn fetch_upload(
        &self,
        id: Id,
        spool: std::path::PathBuf,
    ) -> Result<super::store::Local, JobError> {
        match self.media.fetch_upload(&self.media_dir, id, spool).await {
            Ok(Some(local)) => Ok(local),
            Ok(None) => Err(JobError::Permanent("the uploaded file is missing".into())),
            Err(e) => Err(JobError::Retryable(format!("fetching the upload: {e}"))),
        }
    }

    /// A running job made progress: its owner hears.
    pub async fn progressed(&self, job: &Claimed) {
        if let Some(m) = media_of(job) {
            self.tell_owner(m).await;
        }
    }
}

/// The media a job works on.
pub fn media_of(job: &Claimed) -> Option<Id> {
    serde_json::from_str::<VideoPayload>(&job.payload)
        .ok()
        .map(|p| p.media_id)
}
