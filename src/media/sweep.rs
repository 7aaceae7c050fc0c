//! The `media_sweep` job: unfinished uploads past their expiry, and media
//! that nothing has carried for a day (a photo picked and never posted, an
//! avatar replaced), are deleted with their bytes. Each node enqueues it
//! once an hour under that hour's idempotency key, so the cluster runs it
//! once an hour, on whichever worker is free.

use std::time::Duration;

use super::work::MediaWork;
use crate::db::Writer;
use crate::jobs::job::{JobCtx, JobError, JobKind};
use crate::store::jobs::{Enqueue, NewJob};
use crate::store::media::{ExpireUploads, SweepUnattached};
use crate::tasks::Tasks;
use kith_core::ids::{Id, now_ms};

pub const SWEEP_JOB: &str = "media_sweep";
/// How long an item may be attached to nothing: a day to finish a post.
pub const UNATTACHED_FOR_MS: i64 = 24 * 60 * 60 * 1000;
/// Rows deleted per write: short transactions that leave room for others.
const BATCH: i64 = 200;
/// Batches per run: a backlog is worked off over the next runs.
const MAX_BATCHES: usize = 50;
const EVERY: Duration = Duration::from_secs(60 * 60);

pub struct SweepJob {
    pub work: MediaWork,
}

#[async_trait::async_trait]
impl JobKind for SweepJob {
    fn name(&self) -> &'static str {
        SWEEP_JOB
    }

    async fn run(&self, _ctx: &JobCtx) -> Result<(), JobError> {
        sweep(&self.work, now_ms())
            .await
            .map(|_| ())
            .map_err(|e| JobError::Retryable(e.to_string()))
    }
}

/// What a sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub uploads: usize,
    pub media: usize,
}

/// Removes what expired by `now`.
pub async fn sweep(work: &MediaWork, now: i64) -> anyhow::Result<Swept> {
    let dir = &work.media_dir;
    let mut swept = Swept::default();
    for _ in 0..MAX_BATCHES {
        let ids = work.writer.run(ExpireUploads { now, limit: BATCH }).await?;
        for id in &ids {
            work.media.remove_partial(dir, *id).await?;
        }
        swept.uploads += ids.len();
        if (ids.len() as i64) < BATCH {
            break;
        }
    }
    for _ in 0..MAX_BATCHES {
        let gone = work
            .writer
            .run(SweepUnattached {
                before: now - UNATTACHED_FOR_MS,
                limit: BATCH,
            })
            .await?;
        for (id, _) in &gone {
            work.media.remove(dir, *id).await?;
        }
        swept.media += gone.len();
        if (gone.len() as i64) < BATCH {
            break;
        }
    }
    if swept != Swept::default() {
        tracing::info!(uploads = swept.uploads, media = swept.media, "swept media");
    }
    Ok(swept)
}

/// Enqueues the sweep every hour (the first an hour after start) until
/// the node stops.
pub async fn schedule(writer: Writer, wake: std::sync::Arc<tokio::sync::Notify>, tasks: Tasks) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tasks.stopping() => return,
        }
        let hour = now_ms() / EVERY.as_millis() as i64;
        let job = NewJob {
            id: Id::generate(),
            kind: SWEEP_JOB.into(),
            payload: "{}".into(),
            priority: -1,
            max_attempts: 3,
            idempotency_key: Some(format!("{SWEEP_JOB}:{hour}")),
            owner: None,
        };
        match writer.run(Enqueue(job)).await {
            Ok(_) => wake.notify_one(),
            Err(e) => tracing::warn!(error = %e, "enqueueing the media sweep"),
        }
    }
}
