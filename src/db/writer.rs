//! The writer: one task owning the one write connection.
//!
//! Callers send a [`Command`] and await its [`Reply`]. The task takes
//! whatever is queued (up to [`MAX_BATCH`]), runs it in one transaction with
//! a savepoint per command, commits once, then answers every caller: one
//! fsync-bearing commit is shared by the whole batch (group commit). A
//! command that fails, or panics, is rolled back to its savepoint alone.
//!
//! The queue is bounded ([`QUEUE_DEPTH`]) so that an overload shows up as
//! waiting callers (backpressure), not as memory growth.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::command::{CmdError, Command, Reply};

/// The most commands one transaction holds; bounds the latency a command
/// waits behind its batch.
pub const MAX_BATCH: usize = 512;
/// Commands that may wait for the writer before senders wait too.
pub const QUEUE_DEPTH: usize = 4096;

pub type WriteError = CmdError;

struct Job {
    cmd: Command,
    reply: oneshot::Sender<Result<Reply, CmdError>>,
}

/// A cheap handle to the writer task.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    stop: Arc<watch::Sender<bool>>,
    /// Commits so far: the position a caller's write is visible from.
    position: Arc<AtomicU64>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("position", &self.position())
            .finish()
    }
}

impl Writer {
    /// Starts the writer task on `conn`. The handle's `stop` ends it after it
    /// has run and committed everything already queued.
    pub fn start(conn: SqliteConnection) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (stop, stop_rx) = watch::channel(false);
        let position = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(run(conn, rx, stop_rx, position.clone()));
        let writer = Writer {
            tx,
            stop: Arc::new(stop),
            position,
        };
        (writer, task)
    }

    /// Runs one command and returns its reply once it is committed.
    pub async fn exec(&self, cmd: Command) -> Result<Reply, CmdError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { cmd, reply })
            .await
            .map_err(|_| CmdError::Unavailable("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| CmdError::Unavailable("the writer has stopped".into()))?
    }

    /// The number of transactions committed so far.
    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    /// Asks the task to finish what is queued and stop.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

async fn run(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<Job>,
    mut stop: watch::Receiver<bool>,
    position: Arc<AtomicU64>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            job = rx.recv() => job,
            // Stop asked for, or every handle dropped: refuse new work,
            // then drain what was already queued.
            _ = stop.changed() => {
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = run_batch(&mut conn, &mut batch).await;
        position.fetch_add(1, Ordering::AcqRel);
        for (job, result) in batch.drain(..).zip(results) {
            // The caller may have gone away (request cancelled); the write
            // stands regardless.
            let _ = job.reply.send(result);
        }
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the write connection");
    }
    tracing::debug!("writer stopped");
}

/// Runs the batch in one transaction; returns one result per job.
async fn run_batch(conn: &mut SqliteConnection, batch: &mut [Job]) -> Vec<Result<Reply, CmdError>> {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE").await {
        tracing::error!(error = %e, "writer could not begin a transaction");
        let err = CmdError::from(e);
        return batch.iter().map(|_| Err(err.clone())).collect();
    }
    let mut results = Vec::with_capacity(batch.len());
    for job in batch.iter() {
        results.push(run_one(conn, job.cmd.clone()).await);
    }
    if let Err(e) = exec(conn, "COMMIT").await {
        tracing::error!(error = %e, "writer commit failed");
        let _ = exec(conn, "ROLLBACK").await;
        let err = CmdError::from(e);
        return batch.iter().map(|_| Err(err.clone())).collect();
    }
    results
}

async fn run_one(conn: &mut SqliteConnection, cmd: Command) -> Result<Reply, CmdError> {
    if let Err(e) = exec(conn, "SAVEPOINT cmd").await {
        return Err(e.into());
    }
    let outcome = AssertUnwindSafe(cmd.apply(conn)).catch_unwind().await;
    let result = match outcome {
        Ok(r) => r,
        Err(_) => Err(CmdError::Internal("a write command panicked".into())),
    };
    if result.is_err() {
        let _ = exec(conn, "ROLLBACK TO cmd").await;
    }
    if let Err(e) = exec(conn, "RELEASE cmd").await {
        return Err(e.into());
    }
    if let Err(CmdError::Internal(msg)) = &result {
        tracing::error!(error = %msg, "write command failed");
    }
    result
}

async fn exec(conn: &mut SqliteConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(&mut *conn).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Cmd as AuthCmd;
    use crate::ids::Id;

    fn create_user(name: &str) -> Command {
        Command::Auth(AuthCmd::CreateUser {
            id: Id::generate(),
            username: name.into(),
            display_name: name.into(),
            password_hash: "x".into(),
        })
    }

    async fn writer() -> (tempfile::TempDir, Writer, JoinHandle<()>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = crate::db::open_writer_connection(&dir.path().join("w.db"))
            .await
            .expect("open");
        let (w, t) = Writer::start(conn);
        (dir, w, t)
    }

    async fn count_users(dir: &tempfile::TempDir) -> i64 {
        let pool = crate::db::open_read_pool(&dir.path().join("w.db"))
            .await
            .expect("read pool");
        sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&pool)
            .await
            .expect("count")
    }

    #[tokio::test]
    async fn a_failing_command_does_not_fail_its_batch() {
        let (dir, w, task) = writer().await;
        // 100 distinct users, each asked for twice, all queued at once: they
        // share batches, and each duplicate fails alone.
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..200 {
            let w = w.clone();
            calls.spawn(async move { w.exec(create_user(&format!("user{}", i % 100))).await });
        }
        let (mut ok, mut conflicts) = (0, 0);
        while let Some(r) = calls.join_next().await {
            match r.expect("task") {
                Ok(Reply::Id(_)) => ok += 1,
                Err(CmdError::Conflict(_)) => conflicts += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((ok, conflicts), (100, 100));
        assert!(w.position() < 200, "no batching: {} commits", w.position());
        assert_eq!(count_users(&dir).await, 100);
        w.stop();
        task.await.expect("writer task");
    }

    #[tokio::test]
    async fn stop_commits_what_was_queued_then_refuses() {
        let (dir, w, task) = writer().await;
        let mut calls = Vec::new();
        for i in 0..50 {
            let w = w.clone();
            calls.push(tokio::spawn(async move { w.exec(create_user(&format!("u{i}"))).await }));
        }
        tokio::task::yield_now().await;
        w.stop();
        let mut acked = 0;
        for c in calls {
            // Sent before the stop was seen, or refused after: never lost
            // silently, never hanging.
            match c.await.expect("task") {
                Ok(_) => acked += 1,
                Err(CmdError::Unavailable(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        task.await.expect("writer task");
        let after = w.exec(create_user("late")).await;
        assert!(matches!(after, Err(CmdError::Unavailable(_))), "{after:?}");
        // Everything acknowledged is on disk, and nothing else.
        assert!(acked > 0);
        assert_eq!(count_users(&dir).await, acked);
    }
}
