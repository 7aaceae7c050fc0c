//! The writer: one thread owning the one write connection.
//!
//! Callers send a [`Command`] and await its reply, typed by the command
//! ([`Writer::run`]). The thread takes
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

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::command::AnyCommand;
use crate::store::{CmdError, Command};
use kith_core::sync::Unpoisoned;

/// The most commands one transaction holds; bounds the latency a command
/// waits behind its batch.
pub const MAX_BATCH: usize = 512;
/// Commands that may wait for the writer before senders wait too.
pub const QUEUE_DEPTH: usize = 4096;

/// A boxed future of a forwarded command's result: its reply as JSON.
pub type Forwarded<'a> =
    Pin<Box<dyn Future<Output = Result<serde_json::Value, CmdError>> + Send + 'a>>;

/// Runs commands somewhere else: on a replica, the cluster link to the
/// primary. It answers only once the local copy of the database shows the
/// write (read-your-writes).
pub trait Forward: Send + Sync + 'static {
    fn forward(&self, cmd: AnyCommand) -> Forwarded<'_>;
}

/// A queued command, whatever its type: the writer runs it (perhaps twice,
/// see the module doc) and then answers its caller with the last result.
trait Job: Send {
    /// Runs the command; keeps the result and says whether it failed.
    fn apply(&mut self, conn: &Connection) -> Result<(), ()>;
    /// Replaces the kept result (the transaction did not commit).
    fn fail(&mut self, e: CmdError);
    /// Hands the kept result to the caller.
    fn answer(self: Box<Self>);
}

struct Pending<C: Command> {
    cmd: C,
    result: Result<C::Reply, CmdError>,
    reply: oneshot::Sender<Result<C::Reply, CmdError>>,
}

impl<C: Command> Job for Pending<C> {
    fn apply(&mut self, conn: &Connection) -> Result<(), ()> {
        let cmd = self.cmd.clone();
        self.result = std::panic::catch_unwind(AssertUnwindSafe(|| cmd.apply(conn)))
            .unwrap_or_else(|_| Err(CmdError::Internal("a write command panicked".into())));
        match &self.result {
            Ok(_) => Ok(()),
            Err(e) => {
                if let CmdError::Internal(msg) = e {
                    tracing::error!(error = %msg, "write command failed");
                }
                Err(())
            }
        }
    }

    fn fail(&mut self, e: CmdError) {
        self.result = Err(e);
    }

    fn answer(self: Box<Self>) {
        // The caller may have gone away (request cancelled); the write
        // stands regardless.
        let _ = self.reply.send(self.result);
    }
}

enum Msg {
    Job(Box<dyn Job>),
    /// Finish what is queued, then stop.
    Stop,
}

#[derive(Clone)]
enum Route {
    /// This node owns the write connection.
    Local(mpsc::Sender<Msg>),
    /// Another node does (this one is a replica).
    Remote(Arc<dyn Forward>),
}

struct Shared {
    route: RwLock<Route>,
    /// Commits so far on this node's writer thread.
    position: Arc<AtomicU64>,
}

/// A cheap handle to the writer: the local writer thread on the primary,
/// or the forwarder to it on a replica. The route can change while the
/// server runs (a replica promoted to primary, or the reverse); handles
/// already given out follow.
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("local", &self.is_local())
            .field("position", &self.position())
            .finish()
    }
}

fn spawn_local(conn: Connection, position: Arc<AtomicU64>) -> (mpsc::Sender<Msg>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
    let task = tokio::task::spawn_blocking(move || run(conn, rx, position));
    (tx, task)
}

impl Writer {
    /// Starts the writer on `conn`, on the blocking pool. The returned task
    /// ends after `stop` (or when every handle is dropped), once everything
    /// queued before has been run and committed.
    pub fn start(conn: Connection) -> (Writer, JoinHandle<()>) {
        let position = Arc::new(AtomicU64::new(0));
        let (tx, task) = spawn_local(conn, position.clone());
        let shared = Shared {
            route: RwLock::new(Route::Local(tx)),
            position,
        };
        (
            Writer {
                shared: Arc::new(shared),
            },
            task,
        )
    }

    /// A handle that forwards every command (a replica's writer).
    pub fn remote(forward: Arc<dyn Forward>) -> Writer {
        let shared = Shared {
            route: RwLock::new(Route::Remote(forward)),
            position: Arc::new(AtomicU64::new(0)),
        };
        Writer {
            shared: Arc::new(shared),
        }
    }

    /// Takes over writing on `conn` (this node became the primary).
    /// Commands sent from now on run here.
    pub fn promote(&self, conn: Connection) -> JoinHandle<()> {
        let (tx, task) = spawn_local(conn, self.shared.position.clone());
        *self.shared.route.write_lock() = Route::Local(tx);
        task
    }

    /// Hands writing to `forward` (another node became the primary); the
    /// local writer finishes what it has queued, then stops.
    pub async fn demote(&self, forward: Arc<dyn Forward>) {
        let old = std::mem::replace(&mut *self.shared.route.write_lock(), Route::Remote(forward));
        if let Route::Local(tx) = old {
            let _ = tx.send(Msg::Stop).await;
        }
    }

    /// Whether commands run on this node.
    pub fn is_local(&self) -> bool {
        matches!(self.route(), Route::Local(_))
    }

    fn route(&self) -> Route {
        self.shared.route.read_lock().clone()
    }

    /// Runs one command and returns its reply once it is committed (and,
    /// when forwarded, visible to this node's reads).
    ///
    /// Within a keyed request ([`super::keyed`]) the command is recorded
    /// under the request's key, and a repeat of the request gets the first
    /// attempt's reply instead of applying it again.
    pub async fn run<C>(&self, cmd: C) -> Result<C::Reply, CmdError>
    where
        C: Command + Into<AnyCommand>,
    {
        let Some(request) = super::keyed::current() else {
            return self.run_unkeyed(cmd).await;
        };
        let keyed = request.wrap(cmd.into());
        let sent = keyed.ids().to_vec();
        let reply = self.run_unkeyed(keyed).await?;
        let value = request.accept(&sent, reply)?;
        serde_json::from_value(value)
            .map_err(|e| CmdError::Internal(format!("a recorded reply could not be read: {e}")))
    }

    async fn run_unkeyed<C>(&self, cmd: C) -> Result<C::Reply, CmdError>
    where
        C: Command + Into<AnyCommand>,
    {
        match self.route() {
            Route::Local(tx) => run_on(&tx, cmd).await,
            Route::Remote(forward) => {
                let reply = forward.forward(cmd.into()).await?;
                // Only a primary of another version can answer what this
                // node cannot read.
                serde_json::from_value(reply).map_err(|e| {
                    CmdError::Internal(format!("the primary's reply could not be read: {e}"))
                })
            }
        }
    }

    /// Runs one command on this node's writer thread, never forwarding:
    /// for commands that arrived forwarded from another node. `Unavailable`
    /// when this node is not (or no longer) the primary.
    pub async fn run_here(&self, cmd: AnyCommand) -> Result<serde_json::Value, CmdError> {
        match self.route() {
            Route::Local(tx) => run_on(&tx, cmd).await,
            Route::Remote(_) => Err(CmdError::Unavailable("this node is not the primary".into())),
        }
    }

    /// The number of transactions committed so far on this node.
    pub fn position(&self) -> u64 {
        self.shared.position.load(Ordering::Acquire)
    }

    /// Asks the local writer to finish what is queued and stop; later
    /// commands are refused with `Unavailable`.
    pub async fn stop(&self) {
        if let Route::Local(tx) = self.route() {
            let _ = tx.send(Msg::Stop).await;
        }
    }
}

async fn run_on<C: Command>(tx: &mpsc::Sender<Msg>, cmd: C) -> Result<C::Reply, CmdError> {
    let (reply, rx) = oneshot::channel();
    let job = Pending {
        cmd,
        result: Err(CmdError::Unavailable("the writer has stopped".into())),
        reply,
    };
    tx.send(Msg::Job(Box::new(job)))
        .await
        .map_err(|_| CmdError::Unavailable("the writer has stopped".into()))?;
    rx.await
        .map_err(|_| CmdError::Unavailable("the writer has stopped".into()))?
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Msg>, position: Arc<AtomicU64>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
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
        run_batch(&mut conn, &mut batch);
        position.fetch_add(1, Ordering::AcqRel);
        for job in batch.drain(..) {
            job.answer();
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the write connection");
    }
    tracing::debug!("writer stopped");
}

/// Runs the batch in one transaction; each job keeps its own result.
fn run_batch(conn: &mut Connection, batch: &mut [Box<dyn Job>]) {
    let attempt = begin(conn).and_then(|()| {
        if !run_plain(conn, batch) {
            // A command failed half-way: start over, isolating each one.
            conn.execute_batch("ROLLBACK")?;
            begin(conn)?;
            for job in batch.iter_mut() {
                run_isolated(conn, job.as_mut())?;
            }
        }
        conn.execute_batch("COMMIT")
    });
    if let Err(e) = attempt {
        tracing::error!(error = %e, "writer transaction failed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let err = CmdError::from(e);
        for job in batch.iter_mut() {
            job.fail(err.clone());
        }
    }
}

fn begin(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")
}

/// Runs every command without savepoints; false if one failed after
/// changing rows (its changes cannot be undone alone).
fn run_plain(conn: &Connection, batch: &mut [Box<dyn Job>]) -> bool {
    for job in batch.iter_mut() {
        let before = conn.total_changes();
        if job.apply(conn).is_err() && conn.total_changes() != before {
            return false;
        }
    }
    true
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs one command in a savepoint of its own.
fn run_isolated(conn: &Connection, job: &mut dyn Job) -> rusqlite::Result<()> {
    exec(conn, "SAVEPOINT cmd")?;
    if job.apply(conn).is_err() {
        exec(conn, "ROLLBACK TO cmd")?;
    }
    exec(conn, "RELEASE cmd")
}

#[cfg(test)]
pub(super) mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::store::users::CreateUser;
    use kith_core::ids::Id;

    /// Writes a user row, then fails.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    pub struct FailAfterWriting(String);

    impl Command for FailAfterWriting {
        type Reply = Id;
        fn apply(self, conn: &Connection) -> Result<Id, CmdError> {
            conn.execute(
                "INSERT INTO users (id, username, display_name, password_hash, created_at)
                 VALUES (?, ?, ?, 'x', 0)",
                rusqlite::params![Id::generate().0, self.0, self.0],
            )?;
            Err(CmdError::Invalid("failed after writing".into()))
        }
    }

    fn create_user(name: &str) -> CreateUser {
        CreateUser {
            id: Id::generate(),
            username: name.into(),
            display_name: name.into(),
            password_hash: "x".into(),
            invite: None,
            pending: None,
        }
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
            calls.spawn(async move { w.run(create_user(&format!("user{}", i % 100))).await });
        }
        let (mut ok, mut conflicts) = (0, 0);
        while let Some(r) = calls.join_next().await {
            match r.expect("task") {
                Ok(_) => ok += 1,
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
                let r = if i % 3 == 0 {
                    w.run(FailAfterWriting(format!("bad{i}"))).await
                } else {
                    w.run(create_user(&format!("good{i}"))).await
                };
                (i, r)
            });
        }
        while let Some(r) = calls.join_next().await {
            let (i, r) = r.expect("task");
            if i % 3 == 0 {
                assert!(matches!(r, Err(CmdError::Invalid(_))), "{i}: {r:?}");
            } else {
                assert!(r.is_ok(), "{i}: {r:?}");
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
                w.run(create_user(&format!("u{i}"))).await
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
        let after = w.run(create_user("late")).await;
        assert!(matches!(after, Err(CmdError::Unavailable(_))), "{after:?}");
        // Everything acknowledged is on disk, and nothing else.
        assert!(acked > 0);
        assert_eq!(count_users(&dir).await, acked);
    }
}
