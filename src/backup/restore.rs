//! `kith restore BACKUP`: puts a backup in the database's place.
//!
//! Replacing the file under a running server would pull it out from under
//! the server's open connections and WAL, so a restore refuses while the
//! database is in use, asked two ways:
//!
//! - `kith.lock` in the data directory, taken exclusively: a server on
//!   that data directory holds it shared (see [`super::lock`]). It is kept
//!   until the restore is done, so a server started meanwhile refuses too.
//! - SQLite's own lock on the database file, taken exclusively with no
//!   waiting: every process with the database open holds it shared (a
//!   server on another data directory sharing the file, a `sqlite3` shell,
//!   a `kith backup` under way).
//!
//! The backup is checked first (integrity, kith's tables, a schema version
//! this binary can serve), copied beside the database and verified again
//! (see [`super`]), and renamed over it. The old database's `-wal`,
//! `-shm` and `-journal` are removed before the rename: left beside the
//! new file, SQLite would replay them into it.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::lock::{DataDirLock, LockError};
use super::{Error, Snapshot, Staged, check_source, ensure_sound, io_err, sqlite, with_suffix};
use crate::config::StorageArgs;
use crate::db::schema;

/// Tables every kith database has had since its first schema step.
const KITH_TABLES: [&str; 3] = ["users", "posts", "likes"];

/// Replaces the database of `storage` with `backup`; returns the database
/// as restored.
pub fn restore(backup: &Path, storage: &StorageArgs) -> Result<Snapshot, Error> {
    check_source(backup)?;
    let db = storage.db_path();
    for dir in [Some(storage.data_dir.as_path()), db.parent()]
        .into_iter()
        .flatten()
        .filter(|d| !d.as_os_str().is_empty())
    {
        fs::create_dir_all(dir).map_err(|err| Error::Unwritable {
            dir: dir.into(),
            err,
        })?;
    }
    let _lock = match DataDirLock::restoring(&storage.data_dir) {
        Ok(lock) => Some(lock),
        Err(LockError::Held(lock)) => {
            return Err(Error::Live {
                data_dir: storage.data_dir.clone(),
                lock,
            });
        }
        // The SQLite lock below still guards the database itself.
        Err(LockError::Io(path, e)) => {
            tracing::warn!(lock = %path.display(), error = %e, "cannot take the data directory's lock");
            None
        }
    };
    match fs::metadata(&db) {
        Ok(m) if m.is_dir() => return Err(Error::NotAFile(db)),
        Ok(_) => ensure_unused(&db)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(format_args!("reading {}", db.display()))(e)),
    }

    crate::db::engine::init();
    let src = Connection::open_with_flags(
        backup,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite(format_args!("opening {}", backup.display())))?;
    src.busy_timeout(super::BUSY_TIMEOUT)
        .map_err(sqlite("setting the busy timeout"))?;
    check_kith(&src, backup)?;
    let staged = Staged::copy(&src, &db, &format!("reading {}", backup.display()))?;
    drop(src);
    for suffix in ["-wal", "-shm", "-journal"] {
        let path = with_suffix(&staged.dest, suffix);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format_args!("removing {}", path.display()))(e)),
        }
    }
    staged.publish(true)
}

/// Fails unless no other connection has the database open: an exclusive
/// lock, without waiting.
fn ensure_unused(db: &Path) -> Result<(), Error> {
    crate::db::engine::init();
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite(format_args!("opening {}", db.display())))?;
    conn.busy_timeout(Duration::ZERO)
        .map_err(sqlite("setting the busy timeout"))?;
    // In WAL mode every connection holds a shared lock on the database
    // file while open; in exclusive locking mode this one must take that
    // file's exclusive lock before its first access.
    conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;")
        .map_err(|e| match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::InUse(db.into()),
            Some(ErrorCode::NotADatabase) => Error::NotKith {
                path: db.into(),
                why: "not a SQLite database; not replacing it".into(),
            },
            _ => sqlite(format_args!("locking {}", db.display()))(e),
        })
}

/// Checks that `conn` holds a sound kith database this binary can serve;
/// returns its schema version.
fn check_kith(conn: &Connection, path: &Path) -> Result<i64, Error> {
    let not_kith = |why: String| Error::NotKith {
        path: path.into(),
        why,
    };
    let reading = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => not_kith("not a SQLite database".into()),
        _ => sqlite(format_args!("reading {}", path.display()))(e),
    };
    ensure_sound(conn, path).map_err(|e| match e {
        Error::Sqlite { err, .. } => reading(err),
        e => e,
    })?;
    let version = super::user_version(conn).map_err(reading)?;
    let latest = schema::latest();
    if version > latest {
        return Err(Error::TooNew {
            path: path.into(),
            have: version,
            latest,
        });
    }
    let mut missing = Vec::new();
    for table in KITH_TABLES {
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .map_err(reading)?;
        if found == 0 {
            missing.push(table);
        }
    }
    if version < 1 || !missing.is_empty() {
        return Err(not_kith(format!(
            "schema version {version}, missing tables: {}",
            missing.join(", ")
        )));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(dir: &Path) -> StorageArgs {
        StorageArgs {
            data_dir: dir.into(),
            db: None,
            media_dir: None,
        }
    }

    #[test]
    fn an_open_database_is_in_use() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("kith.db");
        let conn = crate::db::open_writer_connection(&db).expect("open");
        assert!(matches!(ensure_unused(&db), Err(Error::InUse(_))));
        drop(conn);
        ensure_unused(&db).expect("closed");
    }

    #[test]
    fn only_kith_databases_are_restored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = storage(&dir.path().join("data"));
        let garbage = dir.path().join("garbage.db");
        fs::write(&garbage, vec![7u8; 8192]).expect("write");
        let r = restore(&garbage, &target);
        assert!(matches!(r, Err(Error::NotKith { .. })), "{r:?}");

        let other = dir.path().join("other.db");
        Connection::open(&other)
            .and_then(|c| c.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 1;"))
            .expect("other db");
        let r = restore(&other, &target);
        assert!(matches!(r, Err(Error::NotKith { .. })), "{r:?}");

        let newer = dir.path().join("newer.db");
        crate::db::migrate(&newer).expect("migrate");
        Connection::open(&newer)
            .and_then(|c| c.pragma_update(None, "user_version", schema::latest() + 1))
            .expect("bump");
        let r = restore(&newer, &target);
        assert!(matches!(r, Err(Error::TooNew { .. })), "{r:?}");
        assert!(!target.db_path().exists(), "nothing restored");

        let missing = dir.path().join("missing.db");
        assert!(matches!(
            restore(&missing, &target),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn a_restore_replaces_the_database_and_its_wal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backup = dir.path().join("backup.db");
        crate::db::migrate(&backup).expect("migrate");
        Connection::open(&backup)
            .and_then(|c| c.execute_batch("INSERT INTO settings VALUES ('from', x'01')"))
            .expect("write");
        let target = storage(&dir.path().join("data"));
        let db = target.db_path();
        crate::db::migrate(&db).expect("migrate target");
        fs::write(with_suffix(&db, "-wal"), "stale").expect("stale wal");
        let snap = restore(&backup, &target).expect("restore");
        assert_eq!(snap.schema_version, schema::latest());
        assert!(!with_suffix(&db, "-wal").exists());
        let n: i64 = Connection::open(&db)
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM settings WHERE key = 'from'",
                    [],
                    |r| r.get(0),
                )
            })
            .expect("read");
        assert_eq!(n, 1);
    }
}
