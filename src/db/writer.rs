//! The writer: one thread owning the one write connection.
//!
//! Callers send a [`Command`] and await its [`Reply`]. The thread takes
//! whatever is queued (up to [`MAX_BATCH`]), runs it in one transaction,
//! commits once, then answers every caller: one fsync-bearing commit is
//! shared by the whole batch (group commit).
//!
//! A command that fails, or panics, must leave no trace while its
//! neighbours commit. Most failures happen before the command has written
//! anything (a check, or a statement that SQLite rolls back by itself), so
//! the batch first runs without savepoints and only watches the
//! connection's change counter. If a command fails after it has changed
//! rows, the transaction is rolled back and the batch is run again with a
//! savepoint per command. Savepoints are not free: each one makes FTS5
//! flush its pending index data, which cost a quarter of the throughput.
//!
//! The queue is bounded ([`QUEUE_DEPTH`]) so that an overload shows up as
//! waiting callers (backpressure), not as memory growth. The loop is plain
//! blocking code on a thread of its own: it never waits on anything but the
//! queue and the disk, and needs no async hand-off per statement.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
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

enum Msg {
    Job(Job),
    /// Finish what is queued, then stop.
    Stop,
}

/// A cheap handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
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
    /// Starts the writer on `conn`, on the blocking pool. The returned task
    /// ends after `stop` (or when every handle is dropped), once everything
    /// queued before has been run and committed.
    pub fn start(conn: Connection) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let position = Arc::new(AtomicU64::new(0));
        let pos = position.clone();
        let task = tokio::task::spawn_blocking(move || run(conn, rx, pos));
        (Writer { tx, position }, task)
    }

    /// Runs one command and returns its reply once it is committed.
    pub async fn exec(&self, cmd: Command) -> Result<Reply, CmdError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Job(Job { cmd, reply }))
            .await
            .map_err(|_| CmdError::Unavailable("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| CmdError::Unavailable("the writer has stopped".into()))?
    }

    /// The number of transactions committed so far.
    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    /// Asks the writer to finish what is queued and stop; later commands
    /// are refused with `Unavailable`.
    pub async fn stop(&self) {
        let _ = self.tx.send(Msg::Stop).await;
    }
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Msg>, position: Arc<AtomicU64>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Job(job) => batch.push(job),
            // Refuse new work; what is already queued still arrives.
            Msg::Stop => rx.close(),
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(job)) => batch.push(job),
                Ok(Msg::Stop) => rx.close(),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let results = run_batch(&mut conn, &batch);
        position.fetch_add(1, Ordering::AcqRel);
        for (job, result) in batch.drain(..).zip(results) {
            // The caller may have gone away (request cancelled); the write
            // stands regardless.
            let _ = job.reply.send(result);
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the write connection");
    }
    tracing::debug!("writer stopped");
}

/// Runs the batch in one transaction; returns one result per job.
fn run_batch(conn: &mut Connection, batch: &[Job]) -> Vec<Result<Reply, CmdError>> {
    let attempt = begin(conn).and_then(|()| match run_plain(conn, batch) {
        Some(results) => Ok(results),
        None => {
            // A command failed half-way: start over, isolating each one.
            conn.execute_batch("ROLLBACK")?;
            begin(conn)?;
            Ok(batch
                .iter()
                .map(|job| run_isolated(conn, job.cmd.clone()))
                .collect())
        }
    });
    let results = attempt.and_then(|results| conn.execute_batch("COMMIT").map(|()| results));
    results.unwrap_or_else(|e| {
        tracing::error!(error = %e, "writer transaction failed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let err = CmdError::from(e);
        batch.iter().map(|_| Err(err.clone())).collect()
    })
}

fn begin(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")
}

fn apply(conn: &Connection, cmd: Command) -> Result<Reply, CmdError> {
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| cmd.apply(conn)))
        .unwrap_or_else(|_| Err(CmdError::Internal("a write command panicked".into())));
    if let Err(CmdError::Internal(msg)) = &result {
        tracing::error!(error = %msg, "write command failed");
    }
    result
}

/// Runs every command without savepoints; `None` if one failed after
/// changing rows (its changes cannot be undone alone).
fn run_plain(conn: &Connection, batch: &[Job]) -> Option<Vec<Result<Reply, CmdError>>> {
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let before = conn.total_changes();
        let result = apply(conn, job.cmd.clone());
        if result.is_err() && conn.total_changes() != before {
            return None;
        }
        results.push(result);
    }
    Some(results)
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs one command in a savepoint of its own.
fn run_isolated(conn: &Connection, cmd: Command) -> Result<Reply, CmdError> {
    exec(conn, "SAVEPOINT cmd")?;
    let result = apply(conn, cmd);
    if result.is_err() {
        let _ = exec(conn, "ROLLBACK TO cmd");
    }
    exec(conn, "RELEASE cmd")?;
    result
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
        let conn = crate::db::open_writer_connection(&dir.path().join("w.db")).expect("open");
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
        w.stop().await;
        task.await.expect("writer task");
    }

    #[tokio::test]
    async fn a_command_failing_after_it_wrote_is_undone_alone() {
        let (dir, w, task) = writer().await;
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..60 {
            let w = w.clone();
            calls.spawn(async move {
                let cmd = if i % 3 == 0 {
                    Command::FailAfterWriting(format!("bad{i}"))
                } else {
                    create_user(&format!("good{i}"))
                };
                (i, w.exec(cmd).await)
            });
        }
        while let Some(r) = calls.join_next().await {
            let (i, r) = r.expect("task");
            if i % 3 == 0 {
                assert!(matches!(r, Err(CmdError::Invalid(_))), "{i}: {r:?}");
            } else {
                assert!(matches!(r, Ok(Reply::Id(_))), "{i}: {r:?}");
            }
        }
        // The 40 good users, none of the 20 half-written bad ones.
        assert_eq!(count_users(&dir).await, 40);
        w.stop().await;
        task.await.expect("writer task");
    }

    #[tokio::test]
    async fn stop_commits_what_was_queued_then_refuses() {
        let (dir, w, task) = writer().await;
        let mut calls = Vec::new();
        for i in 0..50 {
            let w = w.clone();
            calls.push(tokio::spawn(async move {
                w.exec(create_user(&format!("u{i}"))).await
            }));
        }
        tokio::task::yield_now().await;
        w.stop().await;
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
