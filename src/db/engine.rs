//! The process's one SQLite engine: libSQL's, compiled by libsql-ffi.
//!
//! Three drivers share it: libsql for the hot reads ([`super::reader`]),
//! rusqlite for the writer thread, sqlx for the session store and the other
//! reads. `.cargo/config.toml` sets `LIBSQLITE3_SYS_USE_PKG_CONFIG`, so the
//! latter two's libsqlite3-sys links instead of compiling a second SQLite;
//! the linker then finds every `sqlite3_*` symbol in libsql-ffi's copy and
//! the binary needs no libsqlite3.so at run time (`.ci/run` checks both
//! with `readelf` and `nm`). Two engines in one process would each keep
//! their own POSIX lock table for the same file, and SQLite's locking is
//! only safe within one (closing a descriptor in one drops the other's
//! fcntl locks).
//!
//! libsql asserts, the first time it opens a database, that SQLite is in
//! serialized mode, which can only be set before anything initializes
//! SQLite; had rusqlite or sqlx opened a connection first, that assertion
//! would fail (`left: 21, right: 0`). So every path that opens SQLite calls
//! [`init`] first.

use std::sync::Once;

use futures_util::FutureExt;

/// Initializes the engine through libsql, once per process. Cheap after the
/// first call.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // A local build does not wait on anything: it completes on its first
        // poll.
        let db = libsql::Builder::new_local(":memory:")
            .build()
            .now_or_never()
            .expect("a local libsql database opens without waiting")
            .expect("libsql initializes SQLite");
        drop(db);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `vector32` and `vector_extract` exist only in libSQL: the same
    /// statement answers through all three drivers only if each of them
    /// runs libSQL's engine.
    const LIBSQL_ONLY: &str = "SELECT vector_extract(vector32('[1,2,3]'))";

    #[tokio::test]
    async fn every_driver_runs_libsqls_engine() {
        init();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("e.db");
        let conn = crate::db::open_writer_connection(&path).expect("open");
        let via_rusqlite: String = conn
            .query_row(LIBSQL_ONLY, [], |r| r.get(0))
            .expect("rusqlite runs libSQL SQL");
        let pool = crate::db::open_read_pool(&path).await.expect("pool");
        let via_sqlx: String = sqlx::query_scalar(LIBSQL_ONLY)
            .fetch_one(&pool)
            .await
            .expect("sqlx runs libSQL SQL");
        let reader = crate::db::Reader::open(&path).expect("reader");
        let via_libsql: Vec<String> = reader
            .all(LIBSQL_ONLY, (), |r| r.get::<String>(0))
            .expect("libsql runs libSQL SQL");
        assert_eq!(via_rusqlite, "[1,2,3]");
        assert_eq!(via_sqlx, via_rusqlite);
        assert_eq!(via_libsql, vec![via_rusqlite.clone()]);
        // And one engine, not three that happen to agree: each reports the
        // version libsql-ffi compiled.
        let v_rusqlite: String = conn
            .query_row("SELECT sqlite_version()", [], |r| r.get(0))
            .expect("version");
        let v_sqlx: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&pool)
            .await
            .expect("version");
        assert_eq!(v_rusqlite, libsql::version());
        assert_eq!(v_sqlx, libsql::version());
    }
}
