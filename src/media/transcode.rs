//! The `video` job: the system ffmpeg, through ffmpeg-sidecar, turns an
//! upload into an H.264/AAC MP4 (faststart, at most 720p, aspect kept) and
//! a JPEG poster.
//!
//! ffmpeg runs as `setpriv --pdeathsig KILL -- chrt --idle 0 nice -n 19
//! ffmpeg …`: in the idle scheduling class at the lowest priority, so the
//! API stays responsive, and killed by the kernel if this process dies, so
//! no orphan survives a crash. Outputs go
//! to names unique to the attempt and are renamed into place only when
//! complete: a stale ffmpeg can never overwrite a newer attempt's result.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use ffmpeg_sidecar::ffmpeg_time_duration::FfmpegTimeDuration;

use super::tools::Tools;
use super::work::MediaWork;
use super::{poster_name, sniff, video_name};
use crate::jobs::job::{JobCtx, JobError, JobKind};
use crate::store::jobs::Claimed;
use crate::store::media::{MediaProcessing, MediaReady, VIDEO_JOB, VideoPayload};

/// Scale down to fit 1280x720, never up; even sizes; 8-bit 4:2:0 that
/// every browser plays.
const SCALE: &str =
    "scale='min(1280,iw)':'min(720,ih)':force_original_aspect_ratio=decrease:force_divisible_by=2";

/// How soon a running ffmpeg is killed once its job must stop.
const STOP_CHECK_EVERY: Duration = Duration::from_millis(50);

/// Transcoding an upload: the `video` job, with what it uses.
pub struct VideoJob {
    pub work: MediaWork,
    /// `None` when ffmpeg was not found on this node.
    pub tools: Option<Tools>,
}

#[async_trait::async_trait]
impl JobKind for VideoJob {
    fn name(&self) -> &'static str {
        VIDEO_JOB
    }

    async fn run(&self, ctx: &JobCtx) -> Result<(), JobError> {
        run(self, ctx).await
    }

    async fn progressed(&self, job: &Claimed) {
        self.work.progressed(job).await;
    }

    async fn finished(&self, job: &Claimed) {
        self.work.settle(job).await;
    }
}

async fn run(job: &VideoJob, ctx: &JobCtx) -> Result<(), JobError> {
    let Some(tools) = job.tools.clone() else {
        return Err(JobError::Retryable(
            "ffmpeg is not available on this node".into(),
        ));
    };
    let payload: VideoPayload = serde_json::from_str(&ctx.job.payload)
        .map_err(|e| JobError::Permanent(format!("bad job payload: {e}")))?;
    let id = payload.media_id;
    let work = &job.work;
    let dir = work.media_dir.clone();
    // Earlier attempts that died (with their node) leave partial files.
    remove_leftovers(&dir, id);
    // Unique to this attempt on this node.
    let tag = format!("{}-{}", ctx.job.attempt, std::process::id());
    let spool = dir.join(format!(".{id}.{tag}.in"));
    let input = work.fetch_upload(id, spool).await?;
    let _ = work.writer.run(MediaProcessing { id }).await;
    let video_tmp = dir.join(format!(".{id}.{tag}.mp4"));
    let poster_tmp = dir.join(format!(".{id}.{tag}.jpg"));
    let result = convert(&tools, ctx, &input.path, &video_tmp, &poster_tmp).await;
    let finish = async {
        result?;
        let probe = sniff::probe(&tools.ffprobe, &video_tmp)
            .await
            .ok_or_else(|| JobError::Retryable("the output could not be read back".into()))?;
        // The poster first: a video that is in place has its poster.
        work.media
            .publish(&dir, &poster_tmp, &poster_name(id))
            .await
            .map_err(|e| JobError::Retryable(format!("storing the poster: {e}")))?;
        work.media
            .publish(&dir, &video_tmp, &video_name(id))
            .await
            .map_err(|e| JobError::Retryable(format!("storing the output: {e}")))?;
        let ready = work
            .writer
            .run(MediaReady {
                id,
                width: probe.width,
                height: probe.height,
                duration_ms: Some(probe.duration_ms),
                blurhash: None,
                variants: None,
            })
            .await
            .map_err(|e| JobError::Retryable(e.to_string()))?;
        if !ready {
            // Deleted meanwhile: what was just published belongs to no one.
            if let Err(e) = work.media.remove(&dir, id).await {
                tracing::warn!(media = %id, error = %e, "removing outputs of deleted media");
            }
        }
        Ok(())
    };
    let r = finish.await;
    let _ = std::fs::remove_file(&video_tmp);
    let _ = std::fs::remove_file(&poster_tmp);
    r
}

/// Deletes temp outputs (`.{id}.*`) left by earlier attempts. A stale
/// ffmpeg still writing one keeps an unlinked file, harmless.
fn remove_leftovers(dir: &Path, id: kith_core::ids::Id) {
    let prefix = format!(".{id}.");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Runs the transcode and the poster on the blocking pool.
async fn convert(
    tools: &Tools,
    ctx: &JobCtx,
    input: &Path,
    video: &Path,
    poster: &Path,
) -> Result<(), JobError> {
    let (tools, ctx) = (tools.clone(), ctx.clone());
    let (input, video, poster) = (
        input.to_path_buf(),
        video.to_path_buf(),
        poster.to_path_buf(),
    );
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut cmd = tools.command();
        cmd.input(input.to_string_lossy().as_ref())
            .args(["-map", "0:v:0", "-map", "0:a:0?"])
            .args(["-vf", &format!("{SCALE},format=yuv420p")])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "23"])
            .args(["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"])
            // No metadata of the upload (a phone's GPS atom above all)
            // reaches the output.
            .args(["-map_metadata", "-1"])
            .args(["-stats_period", "0.5", "-f", "mp4"])
            .overwrite()
            .output(video.to_string_lossy().as_ref());
        ffmpeg(&mut cmd, &ctx, &tools, started, true)?;
        ctx.set_progress(0.97);
        // The poster: a second in, or the first frame of a shorter clip.
        for seek in ["1", "0"] {
            let mut cmd = tools.command();
            cmd.args(["-ss", seek])
                .input(video.to_string_lossy().as_ref())
                .args(["-frames:v", "1", "-q:v", "3", "-f", "image2"])
                .overwrite()
                .output(poster.to_string_lossy().as_ref());
            ffmpeg(&mut cmd, &ctx, &tools, started, false)?;
            if std::fs::metadata(&poster).is_ok_and(|m| m.len() > 0) {
                return Ok(());
            }
        }
        Err(JobError::Retryable("no poster frame could be made".into()))
    })
    .await
    .map_err(|e| JobError::Retryable(format!("transcode task: {e}")))?
}

/// Runs one ffmpeg to the end, reporting progress; kills it when the job
/// must stop or the time is up.
fn ffmpeg(
    cmd: &mut FfmpegCommand,
    ctx: &JobCtx,
    tools: &Tools,
    started: Instant,
    report: bool,
) -> Result<(), JobError> {
    let mut child = cmd
        .spawn()
        .map_err(|e| JobError::Retryable(format!("starting ffmpeg: {e}")))?;
    drop(child.take_stdout());
    let events = child
        .iter()
        .map_err(|e| JobError::Retryable(format!("reading ffmpeg: {e}")))?;
    let child = Arc::new(Mutex::new(child));
    let kill = |child: &Mutex<FfmpegChild>| {
        if let Ok(mut c) = child.lock() {
            let _ = c.kill();
        }
    };
    // ffmpeg runs in the idle class: on a busy machine it may print nothing
    // for a long time, so a stop (shutdown, above all) does not wait for
    // its next line.
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (child, finished, ctx) = (child.clone(), finished.clone(), ctx.clone());
        std::thread::spawn(move || {
            while !finished.load(Ordering::Relaxed) {
                if ctx.stopped() {
                    kill(&child);
                    return;
                }
                std::thread::sleep(STOP_CHECK_EVERY);
            }
        })
    };
    let mut total = 0.0;
    let mut errors: Vec<String> = Vec::new();
    let mut stop = None;
    for event in events {
        if ctx.stopped() {
            stop = Some(JobError::Stopped);
        } else if started.elapsed() > tools.timeout {
            stop = Some(JobError::Retryable(format!(
                "timed out after {} s",
                tools.timeout.as_secs()
            )));
        }
        if stop.is_some() {
            kill(&child);
            break;
        }
        match event {
            FfmpegEvent::ParsedDuration(d) => total = d.duration,
            FfmpegEvent::Progress(p) if report && total > 0.0 => {
                if let Some(t) = FfmpegTimeDuration::from_str(&p.time) {
                    ctx.set_progress((t.as_seconds() / total).min(0.95));
                }
            }
            FfmpegEvent::Log(LogLevel::Error | LogLevel::Fatal, line) if errors.len() < 5 => {
                errors.push(line);
            }
            _ => {}
        }
    }
    finished.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    let status = child
        .lock()
        .map_err(|_| JobError::Retryable("ffmpeg's handle was poisoned".into()))?
        .wait()
        .map_err(|e| JobError::Retryable(format!("waiting for ffmpeg: {e}")))?;
    if ctx.stopped() {
        // Killed by the watchdog: its output ended without a word.
        stop = stop.or(Some(JobError::Stopped));
    }
    if let Some(e) = stop {
        return Err(e);
    }
    if status.success() {
        return Ok(());
    }
    let detail = errors
        .iter()
        .map(|l| l.trim_start_matches("[error]").trim())
        .collect::<Vec<_>>()
        .join("; ");
    Err(JobError::Retryable(if detail.is_empty() {
        format!("ffmpeg failed ({status})")
    } else {
        format!("ffmpeg failed: {detail}")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::jobs::Claimed;
    use kith_core::ids::Id;

    /// An ffmpeg that prints nothing (here: waiting for a writer on a FIFO,
    /// as a starved one waits for the CPU) is killed as soon as its job
    /// must stop, not at its next line.
    #[test]
    fn a_silent_ffmpeg_is_killed_when_its_job_stops() {
        let Some(tools) = Tools::locate(Path::new("ffmpeg"), Duration::from_secs(600)) else {
            panic!("ffmpeg is not installed (scripts/test.sh installs it)");
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("input");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let ctx = JobCtx::new(Claimed {
            id: Id(1),
            kind: "video".into(),
            payload: String::new(),
            attempt: 1,
            max_attempts: 3,
            owner: None,
        });
        let stopper = ctx.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            stopper.stop.store(true, Ordering::Relaxed);
        });
        let mut cmd = tools.command();
        cmd.input(fifo.to_string_lossy().as_ref())
            .overwrite()
            .output(dir.path().join("out.mp4").to_string_lossy().as_ref());
        let started = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(ffmpeg(&mut cmd, &ctx, &tools, started, false));
        });
        let result = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("ffmpeg was not stopped within 30 s");
        assert!(matches!(result, Err(JobError::Stopped)), "{result:?}");
    }
}
