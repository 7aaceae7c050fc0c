//! The database: one SQLite file in WAL mode, a read-only pool for reads and
//! one writer task for every write.
//!
//! Why one writer: SQLite allows one writer at a time anyway; funnelling all
//! writes through one task lets it commit many of them in one transaction
//! (group commit), which is where SQLite's write throughput comes from, and
//! gives one place that a replica can forward to (see `db/writer.rs`).

pub mod command;
pub mod schema;
pub mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

pub use command::{CmdError, Command, Reply};
pub use writer::{WriteError, Writer};

/// How long a connection waits on a lock held by another connection (or
/// another process, such as `kith migrate` or a backup) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Readers: enough for the cores we have plus requests waiting on I/O.
const READ_POOL_SIZE: u32 = 8;

fn options(path: &Path) -> anyhow::Result<SqliteConnectOptions> {
    let url = format!("sqlite://{}", path.display());
    Ok(SqliteConnectOptions::from_str(&url)?
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
        .log_statements(tracing::log::LevelFilter::Trace))
}

/// Opens the write connection: creates the file if needed, switches it to
/// WAL, and applies the schema.
pub async fn open_writer_connection(path: &Path) -> anyhow::Result<SqliteConnection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut conn = options(path)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a write acknowledged to a client survives power loss. Each
        // commit then costs an fsync, which is what group commit amortizes:
        // one fsync per batch, not per write (see bench/README.md).
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await?;
    schema::apply(&mut conn).await?;
    Ok(conn)
}

/// Opens the read-only pool. Call after the writer connection has set WAL.
pub async fn open_read_pool(path: &Path) -> anyhow::Result<SqlitePool> {
    let opts = options(path)?.read_only(true);
    Ok(SqlitePoolOptions::new()
        .max_connections(READ_POOL_SIZE)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await?)
}

/// Applies the schema to the file and closes it (`kith migrate`).
pub async fn migrate(path: &Path) -> anyhow::Result<i64> {
    let mut conn = open_writer_connection(path).await?;
    let version = schema::version(&mut conn).await?;
    conn.close().await?;
    Ok(version)
}
