//! The `image` job: a photo's variants or an avatar's squares
//! ([`super::image`]), made on the blocking pool off the request path,
//! written under names unique to the attempt and put in place only when
//! whole; then the upload itself, with whatever metadata it carried, is
//! deleted.

use kith_core::media::MediaKind;

use super::image::{self, ImageError};
use super::work::MediaWork;
use crate::jobs::job::{JobCtx, JobError, JobKind};
use crate::store::jobs::Claimed;
use crate::store::media::{IMAGE_JOB, MediaProcessing, MediaReady, VideoPayload};

/// Making an image's outputs: the `image` job.
pub struct ImageJob {
    pub work: MediaWork,
}

#[async_trait::async_trait]
impl JobKind for ImageJob {
    fn name(&self) -> &'static str {
        IMAGE_JOB
    }

    async fn run(&self, ctx: &JobCtx) -> Result<(), JobError> {
        run(&self.work, ctx).await
    }

    async fn progressed(&self, job: &Claimed) {
        self.work.progressed(job).await;
    }

    async fn finished(&self, job: &Claimed) {
        self.work.settle(job).await;
    }
}

/// Runs `f` on a thread of its own in the idle scheduling class
/// (SCHED_IDLE): it gets only CPU time nothing else wants, so requests stay
/// quick while photos are processed (bench/README.md, "Photos": on 2
/// cores, at normal priority the API's p99 went to 1.9x idle), as ffmpeg
/// does for videos under `chrt --idle`.
async fn idle_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("kith-image".into())
        .spawn(move || {
            use thread_priority::{
                NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
                set_thread_priority_and_policy, thread_native_id,
            };
            if let Err(e) = set_thread_priority_and_policy(
                thread_native_id(),
                ThreadPriority::Min,
                ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
            ) {
                tracing::warn!(error = ?e, "the image thread keeps normal priority");
            }
            let _ = tx.send(f());
        })
        .map_err(|e| e.to_string())?;
    rx.await
        .map_err(|_| "the image thread panicked".to_string())
}

async fn run(work: &MediaWork, ctx: &JobCtx) -> Result<(), JobError> {
    let payload: VideoPayload = serde_json::from_str(&ctx.job.payload)
        .map_err(|e| JobError::Permanent(format!("bad job payload: {e}")))?;
    let id = payload.media_id;
    let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM media WHERE id = ?")
        .bind(id.0)
        .fetch_optional(&work.read)
        .await
        .map_err(|e| JobError::Retryable(e.to_string()))?;
    let Some(kind) = kind.as_deref().and_then(MediaKind::parse) else {
        // Deleted with its owner's account before its turn came.
        return Ok(());
    };
    let dir = work.media_dir.clone();
    let tag = format!("{}-{}", ctx.job.attempt, std::process::id());
    let spool = dir.join(format!(".{id}.{tag}.in"));
    let input = work.fetch_upload(id, spool).await?;
    let _ = work.writer.run(MediaProcessing { id }).await;
    let path = input.path.clone();
    let progress = ctx.clone();
    let made = idle_thread(move || {
        let img = image::decode(&path)?;
        progress.set_progress(0.5);
        match kind {
            MediaKind::Avatar => image::avatar(img),
            _ => image::photo(img),
        }
    })
    .await
    .map_err(|e| JobError::Retryable(format!("the image task failed: {e}")))?;
    drop(input);
    let photo = match made {
        Ok(p) => p,
        Err(ImageError::Io(e)) => return Err(JobError::Retryable(e.to_string())),
        // Retrying cannot make a corrupt image whole.
        Err(e) => return Err(JobError::Permanent(e.to_string())),
    };
    for file in &photo.files {
        let name = file.output.name(id);
        let tmp = dir.join(format!(".{id}.{tag}.{name}"));
        tokio::fs::write(&tmp, &file.bytes)
            .await
            .map_err(|e| JobError::Retryable(format!("writing {name}: {e}")))?;
        if let Err(e) = work.media.publish(&dir, &tmp, &name).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(JobError::Retryable(format!("storing {name}: {e}")));
        }
    }
    let variants = (!photo.variants.is_empty())
        .then(|| serde_json::to_string(&photo.variants).ok())
        .flatten();
    let ready = work
        .writer
        .run(MediaReady {
            id,
            width: i64::from(photo.width),
            height: i64::from(photo.height),
            duration_ms: None,
            blurhash: Some(photo.blurhash),
            variants,
        })
        .await
        .map_err(|e| JobError::Retryable(e.to_string()))?;
    if ready {
        // The outputs are all that is served: the upload, with its EXIF
        // (GPS, camera serial), goes.
        if let Err(e) = work.media.remove_upload(&dir, id).await {
            tracing::warn!(media = %id, error = %e, "removing a processed upload");
        }
    } else if let Err(e) = work.media.remove(&dir, id).await {
        tracing::warn!(media = %id, error = %e, "removing outputs of deleted media");
    }
    Ok(())
}
