//! The database: one SQLite file in WAL mode, a read-only pool for reads and
//! one writer thread for every write.
//!
//! Why one writer: SQLite allows one writer at a time anyway; funnelling all
//! writes through one thread lets it commit many of them in one transaction
//! (group commit), which is where SQLite's write throughput comes from, and
//! gives one place that a replica can forward to (see `db/writer.rs`).
//!
//! The hot reads run on the calling thread through libsql ([`reader`]);
//! the others, and the session store's, through sqlx's async pool. The writer is synchronous (rusqlite on a
//! thread of its own) because it is one sequential loop: with sqlx every
//! statement is a round trip to sqlx's connection thread, and those hand-offs
//! capped group commit at about 2,000 writes/s on two cores (bench/README.md).
//! All three drivers run one SQLite engine, libSQL's ([`engine`]).

pub mod command;
pub mod engine;
pub mod keyed;
pub mod reader;
pub mod schema;
#[cfg(test)]
pub mod scratch;
pub mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

pub use command::AnyCommand;
pub use reader::{ReadError, Reader};
pub use writer::Writer;

use crate::store::{CmdError, Command};

/// A read that went through both read paths (sqlx's pool and [`Reader`])
/// failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// How long a connection waits on a lock held by another connection (or
/// another process, such as `kith migrate` or a backup) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Readers: enough for the cores we have plus requests waiting on I/O.
const READ_POOL_SIZE: u32 = 8;

/// Runs `cmd` in a transaction of its own on `conn`, as the writer would:
/// for the command line's writes beside a running server (SQLite's lock
/// makes the two take turns). Rolled back when it fails.
pub fn apply_alone<C: Command>(conn: &rusqlite::Connection, cmd: C) -> Result<C::Reply, CmdError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match cmd.apply(conn) {
        Ok(reply) => {
            conn.execute_batch("COMMIT")?;
            Ok(reply)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK")?;
            Err(e)
        }
    }
}

/// Opens the write connection: creates the file if needed, switches it to
/// WAL, and applies the schema.
pub fn open_writer_connection(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    engine::init();
    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    anyhow::ensure!(
        mode.eq_ignore_ascii_case("wal"),
        "could not switch to WAL (got {mode})"
    );
    // FULL: a write acknowledged to a client survives power loss. Each
    // commit then costs an fsync, which is what group commit amortizes: one
    // fsync per batch, not per write (see bench/README.md).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoints are run by `Checkpointer` off the writer's path; this is
    // only the backstop should it fall behind (40 MB of WAL at 4 KiB pages).
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    conn.set_prepared_statement_cache_capacity(128);
    schema::apply(&mut conn)?;
    Ok(conn)
}

/// Copies the WAL back into the database file now and then, on a
/// connection and thread of its own.
///
/// Left to SQLite's automatic checkpoint, the commit that crosses the
/// threshold would run the checkpoint (and its fsync of the database file)
/// on the writer's thread, stalling every caller of that batch. A PASSIVE
/// checkpoint never blocks the writer or the readers; it copies what it can.
pub struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the checkpointer runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

impl Checkpointer {
    pub fn start(path: &Path) -> anyhow::Result<Checkpointer> {
        engine::init();
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kith-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    let r = conn
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "checkpoint failed");
                    }
                }
            })?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens the read-only pool. Call after the writer connection has set WAL.
pub async fn open_read_pool(path: &Path) -> anyhow::Result<SqlitePool> {
    engine::init();
    let url = format!("sqlite://{}", path.display());
    let opts = SqliteConnectOptions::from_str(&url)?
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
        .read_only(true)
        .log_statements(tracing::log::LevelFilter::Trace);
    Ok(SqlitePoolOptions::new()
        .max_connections(READ_POOL_SIZE)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await?)
}

/// A server-wide setting, created with `len` random bytes if missing. Every
/// node reads the same value from the replicated database.
pub async fn setting_or_init(
    writer: &Writer,
    read: &SqlitePool,
    key: &str,
    len: usize,
) -> anyhow::Result<Vec<u8>> {
    setting_or_make(writer, read, key, || {
        Ok((0..len).map(|_| rand::random::<u8>()).collect())
    })
    .await
}

/// A server-wide setting, created by `make` if missing: whichever node
/// stores it first wins, and every node reads the winner.
pub async fn setting_or_make(
    writer: &Writer,
    read: &SqlitePool,
    key: &str,
    make: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    let get = || {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(read)
    };
    if let Some(v) = get().await? {
        return Ok(v);
    }
    writer
        .run(crate::store::settings::InitSetting {
            key: key.into(),
            value: make()?,
        })
        .await
        .map_err(|e| anyhow::anyhow!("storing setting {key}: {e}"))?;
    // Whoever stored it first won; read the winner.
    get()
        .await?
        .ok_or_else(|| anyhow::anyhow!("setting {key} missing after storing it"))
}

/// Applies the schema to the file and closes it (`kith migrate`).
pub fn migrate(path: &Path) -> anyhow::Result<i64> {
    let conn = open_writer_connection(path)?;
    let version = schema::version(&conn)?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(version)
}
