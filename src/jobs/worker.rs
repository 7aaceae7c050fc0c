//! Workers: claim a job, run it while renewing its lease, record the
//! outcome. [`try_execute_one`] is one step; [`run`] loops it until
//! shutdown.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::Notify;

use super::job::{JobCtx, JobError, JobKind, Kinds};
use crate::db::Writer;
use crate::store::jobs::{Claim, Fail, Heartbeat, Release, Succeed};
use crate::tasks::Tasks;
/// How often an idle worker looks for work when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);
/// Progress reaches the database (and the owner) at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What one step did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was due.
    Idle,
    Succeeded,
    Failed,
    /// Cancelled, lease lost or shut down before it finished.
    Stopped,
}

/// Settings of a worker.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub name: String,
    /// The kinds of job it takes.
    pub kinds: Kinds,
    pub lease: Duration,
    pub retry_base: Duration,
}

/// Claims and runs at most one job.
pub async fn try_execute_one(
    writer: &Writer,
    cfg: &WorkerConfig,
    shutdown: &Tasks,
) -> anyhow::Result<Outcome> {
    let lease_ms = cfg.lease.as_millis() as i64;
    let claim = Claim {
        worker: cfg.name.clone(),
        kinds: cfg.kinds.names(),
        lease_ms,
    };
    let Some(job) = writer.run(claim).await? else {
        return Ok(Outcome::Idle);
    };
    tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempt, "running job");
    let ctx = JobCtx::new(job.clone());
    let kind = cfg.kinds.get(&job.kind).cloned();
    let keeper = shutdown.spawn(keep_lease(
        writer.clone(),
        cfg.clone(),
        ctx.clone(),
        kind.clone(),
        shutdown.clone(),
    ));
    let result = match &kind {
        Some(kind) => kind.run(&ctx).await,
        None => Err(JobError::Permanent(format!(
            "no worker for jobs of kind {}",
            job.kind
        ))),
    };
    keeper.abort();
    // Interrupted by this node's shutdown: a retryable failure after the
    // stop was raised is the interruption itself (ffmpeg killed), not the
    // job's fault. The job is given back at once, its attempt not charged.
    let interrupted = shutdown.is_stopping() && ctx.stopped();
    let (id, worker) = (job.id, cfg.name.clone());
    // Whether the job was still ours does not change the outcome: a job
    // taken from us is the new holder's to finish.
    let outcome = match result {
        Ok(()) => {
            writer.run(Succeed { id, worker }).await?;
            Outcome::Succeeded
        }
        Err(JobError::Stopped | JobError::Retryable(_)) if interrupted => {
            tracing::info!(job = %job.id, "shutting down; releasing the job");
            writer.run(Release { id, worker }).await?;
            Outcome::Stopped
        }
        Err(JobError::Stopped) => return Ok(Outcome::Stopped),
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "job attempt failed");
            let fail = Fail {
                id,
                worker,
                error: e.to_string(),
                retryable: matches!(e, JobError::Retryable(_)),
                retry_base_ms: cfg.retry_base.as_millis() as u64,
                jitter: rand::rng().random_range(0.0..1.0),
            };
            writer.run(fail).await?;
            Outcome::Failed
        }
    };
    if let Some(kind) = &kind {
        kind.finished(&job).await;
    }
    Ok(outcome)
}

/// Renews the lease (a third of its length at the latest), writes
/// progress at most once a second and pushes it to the owner; raises the
/// stop flag when the job is no longer ours or the node shuts down.
async fn keep_lease(
    writer: Writer,
    cfg: WorkerConfig,
    ctx: JobCtx,
    kind: Option<Arc<dyn JobKind>>,
    shutdown: Tasks,
) {
    let renew_every = cfg.lease / 3;
    let mut last_renew = Instant::now();
    let mut last_progress = -1.0;
    let mut tick = tokio::time::interval(PROGRESS_EVERY.min(renew_every));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.stopping() => {
                ctx.stop.store(true, Ordering::Relaxed);
                return;
            }
        }
        let p = ctx.progress();
        if p == last_progress && last_renew.elapsed() < renew_every {
            continue;
        }
        let hb = Heartbeat {
            id: ctx.job.id,
            worker: cfg.name.clone(),
            lease_ms: cfg.lease.as_millis() as i64,
            progress: p,
        };
        match writer.run(hb).await {
            Ok(true) => {
                last_renew = Instant::now();
                if p != last_progress {
                    last_progress = p;
                    if let Some(kind) = &kind {
                        kind.progressed(&ctx.job).await;
                    }
                }
            }
            Ok(false) => {
                tracing::info!(job = %ctx.job.id, "job cancelled or taken over; stopping it");
                ctx.stop.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "renewing a job lease"),
        }
    }
}

/// Runs jobs until `shutdown`; `wake` is notified when a job is enqueued
/// on this node.
pub async fn run(writer: Writer, cfg: WorkerConfig, wake: Arc<Notify>, shutdown: Tasks) {
    loop {
        if shutdown.is_stopping() {
            break;
        }
        match try_execute_one(&writer, &cfg, &shutdown).await {
            Ok(Outcome::Idle) => {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.stopping() => break,
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "worker step failed");
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.stopping() => break,
                }
            }
        }
    }
    tracing::debug!(worker = %cfg.name, "worker stopped");
}
