//! Reads on the calling thread: libsql connections on the database file,
//! each with its prepared statements, used inline by the task that reads.
//!
//! Why not sqlx's pool for the hot reads: sqlx runs each SQLite connection
//! on a thread of its own and hands every statement and every row across a
//! channel to it, so one feed read woke threads several times; measured
//! here (100k queries), an indexed query returning 20 small rows cost
//! 80–103 µs through the pool and 10–14 µs through a reused libsql
//! statement. A read on cached pages is tens of microseconds, shorter than
//! the hand-off it replaces, so it runs on the tokio worker that asked.
//! Long queries (full-text search) go to the blocking pool instead
//! ([`Reader::blocking`]), so that one cannot hold a worker for
//! milliseconds.
//!
//! libsql's local calls are `async` in signature only: they step SQLite
//! and return, never waiting on anything, so each is polled once
//! (`now_or_never`) and the whole read is synchronous, with no lock held
//! across an await.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt;
use libsql::params::IntoParams;

use super::BUSY_TIMEOUT;

/// Connections: one per core and as many again for reads that run while
/// another is being decoded; a read holds one for microseconds.
const CONNECTIONS: usize = 8;

/// Prepared statements kept per connection. kith's reads use a few dozen
/// distinct statements; past this the cache starts over rather than grow
/// with statements built from input (an `IN` list of variable length).
const STATEMENTS: usize = 128;

/// A JSON array of `values`, for `IN (SELECT value FROM json_each(?))`:
/// one statement serves a list of any length, so it is prepared once.
pub fn json_list(values: impl IntoIterator<Item = i64>) -> String {
    let mut out = String::from("[");
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{v}");
    }
    out.push(']');
    out
}

/// `sql` with its `LIMIT` written in, not bound.
///
/// SQLite (3.47, libSQL's) marks a statement whose `LIMIT` is a parameter
/// to be prepared again whenever that parameter is bound, so a bound limit
/// made every feed read parse and plan its query anew: 17% of the server's
/// CPU in a profile of feed reads. A page size is one of a handful of
/// values, so each gets a cached statement of its own.
pub fn limited(sql: &str, n: i64) -> String {
    format!("{sql} LIMIT {n}")
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("database read failed: {0}")]
    Db(#[from] libsql::Error),
    #[error("a read did not complete inline")]
    Pending,
    #[error("a read was cancelled: {0}")]
    Join(String),
}

/// Read-only libsql connections on one database file.
pub struct Reader {
    // Kept open for the connections' sake.
    _db: libsql::Database,
    slots: Box<[Mutex<Slot>]>,
    next: AtomicUsize,
}

struct Slot {
    conn: libsql::Connection,
    // Keyed by the SQL itself (a feed page's is 700 bytes), hashed with
    // foldhash: SipHash over it was a visible share of a feed read.
    statements: HashMap<String, libsql::Statement, foldhash::fast::RandomState>,
}

/// Polls a libsql call that completes without waiting.
fn inline<T>(f: impl std::future::Future<Output = libsql::Result<T>>) -> Result<T, ReadError> {
    f.now_or_never()
        .ok_or(ReadError::Pending)?
        .map_err(Into::into)
}

impl Slot {
    fn statement(&mut self, sql: &str) -> Result<&libsql::Statement, ReadError> {
        if !self.statements.contains_key(sql) {
            if self.statements.len() >= STATEMENTS {
                self.statements.clear();
            }
            let stmt = inline(self.conn.prepare(sql))?;
            self.statements.insert(sql.to_owned(), stmt);
        }
        let stmt = &self.statements[sql];
        // A statement left mid-way by an earlier read (an early return, a
        // panic) starts over with no bindings kept.
        stmt.reset();
        Ok(stmt)
    }
}

impl Reader {
    /// Opens the connections read-only. The file must exist (the writer or
    /// the replication made it).
    pub fn open(path: &Path) -> anyhow::Result<Reader> {
        super::engine::init();
        // NOMUTEX: a connection is only ever used under its slot's lock, so
        // SQLite's own per-call connection mutex (serialized mode) is pure
        // cost; with it, lock and unlock were a tenth of a feed read's CPU.
        let flags = libsql::OpenFlags::from_bits_retain(
            libsql::ffi::SQLITE_OPEN_READONLY | libsql::ffi::SQLITE_OPEN_NOMUTEX,
        );
        let db = inline(libsql::Builder::new_local(path).flags(flags).build())?;
        let mut slots = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let conn = db.connect()?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            slots.push(Mutex::new(Slot {
                conn,
                statements: HashMap::default(),
            }));
        }
        Ok(Reader {
            _db: db,
            slots: slots.into_boxed_slice(),
            next: AtomicUsize::new(0),
        })
    }

    /// The first free connection, else the next in turn (held for
    /// microseconds). First free, not in turn: a commit by any connection
    /// empties every other connection's page cache at its next read (WAL
    /// mode), so reads spread over eight connections read the same pages
    /// again up to eight times between commits, while the first free is
    /// nearly always the first, its cache warm since the last commit.
    fn slot(&self) -> MutexGuard<'_, Slot> {
        for slot in self.slots.iter() {
            if let Ok(g) = slot.try_lock() {
                return g;
            }
        }
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // A read that panicked leaves a poisoned lock; its statement is
        // reset before reuse, so the connection is fine.
        self.slots[start % n]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Every row of `sql`, each turned into a `T` by `map` (which reads the
    /// row's columns by position).
    pub fn all<T>(
        &self,
        sql: &str,
        params: impl IntoParams,
        mut map: impl FnMut(&libsql::Row) -> libsql::Result<T>,
    ) -> Result<Vec<T>, ReadError> {
        let mut slot = self.slot();
        let stmt = slot.statement(sql)?;
        let mut rows = inline(stmt.query(params))?;
        let mut out = Vec::new();
        while let Some(row) = inline(rows.next())? {
            out.push(map(&row)?);
        }
        drop(rows);
        stmt.reset();
        Ok(out)
    }

    /// The first row of `sql`, if any.
    pub fn first<T>(
        &self,
        sql: &str,
        params: impl IntoParams,
        map: impl FnOnce(&libsql::Row) -> libsql::Result<T>,
    ) -> Result<Option<T>, ReadError> {
        let mut slot = self.slot();
        let stmt = slot.statement(sql)?;
        let mut rows = inline(stmt.query(params))?;
        let out = match inline(rows.next())? {
            Some(row) => Some(map(&row)?),
            None => None,
        };
        drop(rows);
        stmt.reset();
        Ok(out)
    }

    /// Runs `read` on the blocking pool: for queries that may take
    /// milliseconds (search), which would otherwise hold a worker thread.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Reader) -> Result<T, ReadError> + Send + 'static,
    ) -> Result<T, ReadError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || read(&me))
            .await
            .map_err(|e| ReadError::Join(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh file holding `rows`, its writer's connection and a reader.
    fn seeded(rows: &str) -> (tempfile::TempDir, rusqlite::Connection, Reader) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.db");
        let conn = crate::db::open_writer_connection(&path).expect("open");
        conn.execute_batch(rows).expect("seed");
        let reader = Reader::open(&path).expect("reader");
        (dir, conn, reader)
    }

    #[tokio::test]
    async fn reads_rows_reuses_statements_and_sees_new_commits() {
        let (_dir, conn, reader) = seeded(
            "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL);",
        );
        let sql = "SELECT k, v FROM t WHERE k >= ?1 ORDER BY k";
        let read = |from: i64| {
            reader
                .all(sql, [from], |r| {
                    Ok((r.get::<i64>(0)?, r.get::<Option<String>>(1)?))
                })
                .expect("read")
        };
        assert_eq!(
            read(1),
            vec![(1, Some("a".into())), (2, Some("b".into())), (3, None)]
        );
        // The same statement again, with another binding.
        assert_eq!(read(3), vec![(3, None)]);
        // A first row only; the statement is reset for the next read.
        let one = reader.first(sql, [2], |r| r.get::<i64>(0)).expect("first");
        assert_eq!(one, Some(2));
        assert_eq!(read(1).len(), 3);
        // A commit made after the statements were prepared is seen.
        conn.execute("INSERT INTO t VALUES (4, 'd')", [])
            .expect("insert");
        assert_eq!(read(4), vec![(4, Some("d".into()))]);
        // Read-only: a write through the reader fails, it does not apply.
        let err = reader.all("INSERT INTO t VALUES (5, 'e') RETURNING k", (), |r| {
            r.get::<i64>(0)
        });
        assert!(err.is_err(), "a read-only connection wrote: {err:?}");
        assert_eq!(read(5), vec![]);
        // Bad SQL is an error, not a panic.
        assert!(
            reader
                .all("SELECT nope FROM t", (), |r| r.get::<i64>(0))
                .is_err()
        );
    }

    /// Reads one after another use the first connection (whose cache a
    /// commit empties once), not each connection in turn; a read while
    /// it is held takes the next.
    #[test]
    fn reads_in_sequence_keep_to_the_first_connection() {
        let (_dir, _conn, reader) =
            seeded("CREATE TABLE t (k INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);");
        let sql = "SELECT k FROM t WHERE k = ?1";
        for _ in 0..20 {
            reader.first(sql, [1], |r| r.get::<i64>(0)).expect("read");
        }
        let prepared = |i: usize| {
            reader.slots[i]
                .lock()
                .expect("slot")
                .statements
                .contains_key(sql)
        };
        assert!(prepared(0));
        assert!(
            (1..CONNECTIONS).all(|i| !prepared(i)),
            "reads spread over connections"
        );
        let held = reader.slots[0].lock().expect("slot");
        reader.first(sql, [1], |r| r.get::<i64>(0)).expect("read");
        drop(held);
        assert!(prepared(1), "a read waited for a held connection");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_readers_share_the_connections() {
        let (_dir, _conn, reader) = seeded(
            "CREATE TABLE t (k INTEGER PRIMARY KEY);
             WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 100)
             INSERT INTO t SELECT x FROM s;",
        );
        let reader = Arc::new(reader);
        let mut tasks = Vec::new();
        for i in 0..32 {
            let r = reader.clone();
            tasks.push(tokio::spawn(async move {
                let mut total = 0;
                for _ in 0..50 {
                    let n = r
                        .blocking(move |r| {
                            r.first("SELECT count(*) FROM t WHERE k > ?1", [i], |row| {
                                row.get::<i64>(0)
                            })
                        })
                        .await
                        .expect("read")
                        .expect("a row");
                    total += n;
                }
                (i, total)
            }));
        }
        for t in tasks {
            let (i, total) = tokio::time::timeout(std::time::Duration::from_secs(30), t)
                .await
                .expect("in time")
                .expect("task");
            assert_eq!(total, 50 * (100 - i));
        }
    }
}
