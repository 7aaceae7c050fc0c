//! The `jobs` table: enqueue, claim, heartbeat, finish, cancel, retry, and
//! the reads of jobs for their owners and operators.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa::ToSchema;

use super::{CmdError, Command};
use kith_core::ids::{Id, format_ms, now_ms};
use kith_core::job_state::{self as state, Event, Status};

/// The most attempts a job may be given.
pub const MAX_ATTEMPTS_LIMIT: u32 = 25;
/// Retry delays never exceed this.
const BACKOFF_CAP_MS: u64 = 15 * 60 * 1000;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewJob {
    pub id: Id,
    pub kind: String,
    /// JSON.
    pub payload: String,
    pub priority: i64,
    pub max_attempts: u32,
    /// A second enqueue with the same key returns the first job.
    pub idempotency_key: Option<String>,
    pub owner: Option<Id>,
}

/// A job a worker has claimed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimed {
    pub id: Id,
    pub kind: String,
    pub payload: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub max_attempts: u32,
    pub owner: Option<Id>,
}

/// Inserts a job (in the caller's transaction); returns its id, or the id
/// of the job already enqueued under the same idempotency key.
pub fn enqueue_tx(conn: &Connection, job: &NewJob) -> Result<Id, CmdError> {
    enqueue_at_tx(conn, job, now_ms())
}

/// [`enqueue_tx`] for a job due at `run_at` (ms) rather than now.
pub fn enqueue_at_tx(conn: &Connection, job: &NewJob, run_at: i64) -> Result<Id, CmdError> {
    if let Some(key) = &job.idempotency_key {
        let existing: Option<i64> = conn
            .prepare_cached("SELECT id FROM jobs WHERE idempotency_key = ?")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        if let Some(id) = existing {
            return Ok(Id(id));
        }
    }
    let max = job.max_attempts.clamp(1, MAX_ATTEMPTS_LIMIT);
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO jobs (id, kind, payload, status, priority, run_at, max_attempts,
                           idempotency_key, owner_id, created_at, updated_at)
         VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        job.id.0,
        job.kind,
        job.payload,
        job.priority,
        run_at.max(now),
        max,
        job.idempotency_key,
        job.owner.map(|o| o.0),
        now,
        now
    ])?;
    Ok(job.id)
}

fn row_status(conn: &Connection, id: Id) -> Result<(Status, u32, u32, Option<i64>), CmdError> {
    let row: Option<(String, u32, u32, Option<i64>)> = conn
        .prepare_cached("SELECT status, attempts, max_attempts, owner_id FROM jobs WHERE id = ?")?
        .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let (s, a, m, o) = row.ok_or_else(|| CmdError::NotFound("job not found".into()))?;
    let s = Status::parse(&s).ok_or_else(|| CmdError::Internal(format!("bad job status {s}")))?;
    Ok((s, a, m, o))
}

fn invalid(e: state::Invalid) -> CmdError {
    CmdError::Conflict(format!("the job is {}", e.from.as_str()))
}

/// Puts back (or kills) running jobs whose lease has run out.
fn expire_leases(conn: &Connection, now: i64) -> Result<(), CmdError> {
    let expired: Vec<(i64, u32, u32)> = conn
        .prepare_cached(
            "SELECT id, attempts, max_attempts FROM jobs
             WHERE status = 'running' AND lease_expires_at < ?",
        )?
        .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut update = conn.prepare_cached(
        "UPDATE jobs SET status = ?, lease_owner = NULL, lease_expires_at = NULL, run_at = ?,
                last_error = 'the worker stopped responding (lease expired)', updated_at = ?
         WHERE id = ?",
    )?;
    for (id, attempts, max) in expired {
        let to =
            state::next(Status::Running, Event::LeaseExpired, attempts, max).map_err(invalid)?;
        update.execute(params![to.as_str(), now, now, id])?;
    }
    Ok(())
}

/// Enqueues a job; answers its id (or that of the job already enqueued
/// under the same idempotency key).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Enqueue(pub NewJob);

impl Command for Enqueue {
    type Reply = Id;
    fn apply(self, conn: &Connection) -> Result<Id, CmdError> {
        enqueue_tx(conn, &self.0)
    }
}

/// Takes the next due job of one of `kinds` (highest priority, then
/// earliest run_at) for `worker`, after putting back jobs whose lease ran
/// out; `None` when none is due.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claim {
    pub worker: String,
    pub kinds: Vec<String>,
    pub lease_ms: i64,
}

impl Command for Claim {
    type Reply = Option<Claimed>;
    fn apply(self, conn: &Connection) -> Result<Option<Claimed>, CmdError> {
        let Claim {
            worker,
            kinds,
            lease_ms,
        } = self;
        let now = now_ms();
        expire_leases(conn, now)?;
        if kinds.is_empty() {
            return Ok(None);
        }
        let marks = vec!["?"; kinds.len()].join(", ");
        // INDEXED BY: walk the due-jobs index in claim order and stop at
        // the first match. Left to itself the planner picks the status
        // index and sorts every queued job per claim.
        let sql = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?1,
                    lease_expires_at = ?2, updated_at = ?3
             WHERE id = (SELECT id FROM jobs INDEXED BY jobs_due
                         WHERE status IN ('queued', 'failed') AND run_at <= ?3
                           AND kind IN ({marks})
                         ORDER BY priority DESC, run_at, id LIMIT 1)
             RETURNING id, kind, payload, attempts, max_attempts, owner_id"
        );
        let mut args: Vec<rusqlite::types::Value> =
            vec![worker.into(), (now + lease_ms).into(), now.into()];
        args.extend(kinds.into_iter().map(rusqlite::types::Value::from));
        Ok(conn
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(args), |r| {
                Ok(Claimed {
                    id: Id(r.get(0)?),
                    kind: r.get(1)?,
                    payload: r.get(2)?,
                    attempt: r.get(3)?,
                    max_attempts: r.get(4)?,
                    owner: r.get::<_, Option<i64>>(5)?.map(Id),
                })
            })
            .optional()?)
    }
}

/// Renews the lease and records progress. Answers `false` when the job is
/// no longer this worker's (cancelled, or its lease was lost and someone
/// else has it): the worker must stop.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Heartbeat {
    pub id: Id,
    pub worker: String,
    pub lease_ms: i64,
    pub progress: f64,
}

impl Command for Heartbeat {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let now = now_ms();
        // Garbage progress must not cost the job its lease.
        let progress = if self.progress.is_nan() {
            0.0
        } else {
            self.progress
        };
        let n = conn
            .prepare_cached(
                "UPDATE jobs SET lease_expires_at = ?, progress = max(progress, ?), updated_at = ?
                 WHERE id = ? AND status = 'running' AND lease_owner = ?",
            )?
            .execute(params![
                now + self.lease_ms,
                progress.clamp(0.0, 1.0),
                now,
                self.id.0,
                self.worker
            ])?;
        Ok(n == 1)
    }
}

/// The worker finished the job; answers whether it still held it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Succeed {
    pub id: Id,
    pub worker: String,
}

impl Command for Succeed {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let n = conn
            .prepare_cached(
                "UPDATE jobs SET status = 'succeeded', progress = 1, lease_owner = NULL,
                        lease_expires_at = NULL, last_error = NULL, updated_at = ?
                 WHERE id = ? AND status = 'running' AND lease_owner = ?",
            )?
            .execute(params![now_ms(), self.id.0, self.worker])?;
        Ok(n == 1)
    }
}

/// The attempt failed: the job is retried after a backoff, or dies;
/// answers whether the worker still held it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fail {
    pub id: Id,
    pub worker: String,
    pub error: String,
    pub retryable: bool,
    pub retry_base_ms: u64,
    /// In [0, 1): spreads retries of jobs that failed together.
    pub jitter: f64,
}

impl Command for Fail {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let Fail {
            id,
            worker,
            mut error,
            retryable,
            retry_base_ms,
            jitter,
        } = self;
        let now = now_ms();
        let owned = conn
            .prepare_cached(
                "SELECT 1 FROM jobs WHERE id = ? AND status = 'running' AND lease_owner = ?",
            )?
            .exists(params![id.0, worker])?;
        if !owned {
            return Ok(false);
        }
        let (from, attempts, max, _) = row_status(conn, id)?;
        let to = state::next(from, Event::Fail { retryable }, attempts, max).map_err(invalid)?;
        let delay = state::backoff(
            attempts,
            std::time::Duration::from_millis(retry_base_ms),
            std::time::Duration::from_millis(BACKOFF_CAP_MS),
            jitter,
        );
        error.truncate(2000);
        conn.prepare_cached(
            "UPDATE jobs SET status = ?, run_at = ?, last_error = ?, lease_owner = NULL,
                    lease_expires_at = NULL, updated_at = ?
             WHERE id = ?",
        )?
        .execute(params![
            to.as_str(),
            now + delay.as_millis() as i64,
            error,
            now,
            id.0
        ])?;
        Ok(true)
    }
}

/// Gives a running job back at once (shutdown) without using up the
/// attempt; answers whether the worker still held it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Release {
    pub id: Id,
    pub worker: String,
}

impl Command for Release {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let now = now_ms();
        let n = conn
            .prepare_cached(
                "UPDATE jobs SET status = 'queued', attempts = max(attempts - 1, 0),
                        lease_owner = NULL, lease_expires_at = NULL, run_at = ?, updated_at = ?
                 WHERE id = ? AND status = 'running' AND lease_owner = ?",
            )?
            .execute(params![now, now, self.id.0, self.worker])?;
        Ok(n == 1)
    }
}

/// By its owner (`user`), or by an operator (`None`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cancel {
    pub id: Id,
    pub user: Option<Id>,
}

impl Command for Cancel {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let Cancel { id, user } = self;
        let (from, attempts, max, owner) = row_status(conn, id)?;
        if let Some(user) = user
            && owner != Some(user.0)
        {
            return Err(CmdError::NotFound("job not found".into()));
        }
        let to = state::next(from, Event::Cancel, attempts, max).map_err(invalid)?;
        conn.prepare_cached(
            "UPDATE jobs SET status = ?, lease_owner = NULL, lease_expires_at = NULL,
                    last_error = coalesce(last_error, 'cancelled'), updated_at = ?
             WHERE id = ?",
        )?
        .execute(params![to.as_str(), now_ms(), id.0])?;
        Ok(())
    }
}

/// An operator runs a failed, dead or cancelled job again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Retry {
    pub id: Id,
}

impl Command for Retry {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let (from, attempts, max, _) = row_status(conn, self.id)?;
        let to = state::next(from, Event::Retry, attempts, max).map_err(invalid)?;
        let now = now_ms();
        conn.prepare_cached(
            "UPDATE jobs SET status = ?, attempts = 0, run_at = ?, progress = 0, updated_at = ?
             WHERE id = ?",
        )?
        .execute(params![to.as_str(), now, now, self.id.0])?;
        Ok(())
    }
}

/// A job as its owner and operators see it.
#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct JobView {
    #[sqlx(try_from = "i64")]
    pub id: Id,
    pub kind: String,
    pub status: String,
    pub priority: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub progress: f64,
    pub last_error: Option<String>,
    #[sqlx(skip)]
    pub run_at: String,
    #[sqlx(skip)]
    pub updated_at: String,
    #[serde(skip)]
    #[sqlx(rename = "run_at")]
    pub run_at_ms: i64,
    #[serde(skip)]
    #[sqlx(rename = "updated_at")]
    pub updated_at_ms: i64,
    #[serde(skip)]
    pub owner_id: Option<i64>,
}

const JOB_SELECT: &str = "SELECT id, kind, status, priority, attempts, max_attempts, progress, \
     last_error, run_at, updated_at, owner_id FROM jobs";

fn finish(mut j: JobView) -> JobView {
    j.run_at = format_ms(j.run_at_ms);
    j.updated_at = format_ms(j.updated_at_ms);
    j
}

pub async fn get(pool: &SqlitePool, id: Id) -> Result<Option<JobView>, sqlx::Error> {
    let j: Option<JobView> = sqlx::query_as(&format!("{JOB_SELECT} WHERE id = ?"))
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(j.map(finish))
}

/// A page of jobs newest first, below the id `before`, optionally of one
/// status and one kind (the console's list).
pub async fn page(
    pool: &SqlitePool,
    status: Option<&str>,
    kind: Option<&str>,
    before: i64,
    fetch: i64,
) -> Result<Vec<JobView>, sqlx::Error> {
    let rows: Vec<JobView> = sqlx::query_as(&format!(
        "{JOB_SELECT} WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR kind = ?2)
         AND id < ?3 ORDER BY id DESC LIMIT ?4"
    ))
    .bind(status)
    .bind(kind)
    .bind(before)
    .bind(fetch)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(finish).collect())
}

/// Jobs newest first, optionally of one status.
pub async fn list(
    pool: &SqlitePool,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<JobView>, sqlx::Error> {
    let rows: Vec<JobView> = match status {
        Some(s) => {
            sqlx::query_as(&format!(
                "{JOB_SELECT} WHERE status = ? ORDER BY id DESC LIMIT ?"
            ))
            .bind(s)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query_as(&format!("{JOB_SELECT} ORDER BY id DESC LIMIT ?"))
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
    };
    Ok(rows.into_iter().map(finish).collect())
}

impl super::audit::Audit for Cancel {
    fn action(&self) -> &'static str {
        "job.cancel"
    }
    fn target(&self) -> String {
        format!("job:{}", self.id)
    }
}

impl super::audit::Audit for Retry {
    fn action(&self) -> &'static str {
        "job.retry"
    }
    fn target(&self) -> String {
        format!("job:{}", self.id)
    }
}
