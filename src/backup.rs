//! Backups: consistent copies of the live database, and putting one back.
//!
//! - This file: `kith backup PATH`, and the copy every backup makes.
//! - [`restore`]: `kith restore BACKUP`.
//! - [`schedule`]: periodic backups in the serving process
//!   (`--backup-every`).
//! - [`lock`]: `kith.lock`, which keeps a restore and a server apart.
//!
//! # Why `VACUUM INTO`
//!
//! SQLite has two ways to copy a database that another process is
//! writing: the online backup API and `VACUUM INTO`. kith uses `VACUUM
//! INTO`:
//!
//! - It reads the whole database in one read transaction, so the copy is
//!   the database as of one commit however busy the writer is, and in WAL
//!   mode that reader holds up neither the writer nor other readers. The
//!   backup API copies pages in steps, and a step that finds the database
//!   changed by another connection starts the whole copy over: under the
//!   server's steady writes a stepped backup may never finish (and done in
//!   one step it is the same single read transaction).
//! - The copy comes out compacted (no free pages) and in one file.
//! - It is plain SQL: no extra rusqlite feature.
//!
//! The price: it rebuilds each index as it copies, which costs more CPU
//! than copying pages, and while it runs checkpoints cannot pass its
//! snapshot, so the WAL grows for that long.
//!
//! Every copy is written to a temporary file beside its destination,
//! switched to a rollback journal (so it is one file, with nothing beside
//! it), checked with `PRAGMA integrity_check`, synced, and only then
//! renamed into place: the destination is absent, the old file, or a
//! complete verified copy, even after a crash.

pub mod lock;
pub mod restore;
pub mod schedule;

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How long a copy waits on a lock held by another connection (a WAL
/// recovery, say) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a backup or a restore did not happen. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no database at {0}")]
    NoDatabase(PathBuf),
    #[error("{0} does not exist")]
    NotFound(PathBuf),
    #[error("{0} is a directory, not a database file")]
    NotAFile(PathBuf),
    #[error("{0} is a directory; name the backup file, for example {0}/kith.db")]
    DestinationIsDirectory(PathBuf),
    #[error("{0} already exists; pass --force to replace it")]
    Exists(PathBuf),
    #[error("{0} is the database itself; write the backup somewhere else")]
    IsTheDatabase(PathBuf),
    #[error("the directory {0} does not exist")]
    NoDirectory(PathBuf),
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot write in {dir}: {err}")]
    Unwritable { dir: PathBuf, err: io::Error },
    #[error("{path} failed its integrity check: {problems}")]
    Corrupt { path: PathBuf, problems: String },
    #[error("{path} is not a kith database: {why}")]
    NotKith { path: PathBuf, why: String },
    #[error(
        "{path} has schema version {have}, newer than this kith knows ({latest}); restore it with a newer kith"
    )]
    TooNew {
        path: PathBuf,
        have: i64,
        latest: i64,
    },
    #[error(
        "the database is live: a kith server is running on {data_dir} (it holds {lock}); stop it, restore, then start it again"
    )]
    Live { data_dir: PathBuf, lock: PathBuf },
    #[error(
        "the database {0} is in use by another process (a running kith server?); stop it before restoring"
    )]
    InUse(PathBuf),
    #[error("{what}: {err}")]
    Sqlite { what: String, err: rusqlite::Error },
    #[error("{what}: {err}")]
    Io { what: String, err: io::Error },
}

fn sqlite(what: impl fmt::Display) -> impl FnOnce(rusqlite::Error) -> Error {
    move |err| Error::Sqlite {
        what: what.to_string(),
        err,
    }
}

fn io_err(what: impl fmt::Display) -> impl FnOnce(io::Error) -> Error {
    move |err| Error::Io {
        what: what.to_string(),
        err,
    }
}

/// A verified copy on disk.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub path: PathBuf,
    pub bytes: u64,
    /// Its `PRAGMA user_version`: the schema step it is at.
    pub schema_version: i64,
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} bytes, schema version {}",
            self.path.display(),
            self.bytes,
            self.schema_version
        )
    }
}

/// Copies the database at `db` to `dest` (`kith backup`), beside a running
/// server or not. An existing `dest` is replaced only with `force`.
pub fn backup(db: &Path, dest: &Path, force: bool) -> Result<Snapshot, Error> {
    check_source(db).map_err(|e| match e {
        Error::NotFound(p) => Error::NoDatabase(p),
        e => e,
    })?;
    check_destination(dest, force)?;
    if let (Ok(a), Ok(b)) = (fs::canonicalize(db), fs::canonicalize(dest))
        && a == b
    {
        // Renamed over, the live file would be pulled from under its
        // server.
        return Err(Error::IsTheDatabase(dest.into()));
    }
    // Read-write (never created): should a server have crashed, this
    // connection recovers its WAL like any other would.
    crate::db::engine::init();
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite(format_args!("opening {}", db.display())))?;
    src.busy_timeout(BUSY_TIMEOUT)
        .map_err(sqlite("setting the busy timeout"))?;
    let staged = Staged::copy(&src, dest, &format!("reading {}", db.display()))?;
    drop(src);
    staged.publish(force)
}

/// A source file (a database or a backup) exists and is not a directory.
fn check_source(path: &Path) -> Result<(), Error> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(Error::NotAFile(path.into())),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound(path.into())),
        Err(e) => Err(io_err(format_args!("reading {}", path.display()))(e)),
    }
}

/// Fails early, before any copying, on a destination that cannot be used.
fn check_destination(dest: &Path, force: bool) -> Result<(), Error> {
    match fs::metadata(dest) {
        Ok(m) if m.is_dir() => Err(Error::DestinationIsDirectory(dest.into())),
        Ok(_) if !force => Err(Error::Exists(dest.into())),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        // A parent that is a file: reported as such by `Staged::copy`.
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(()),
        Err(e) => Err(io_err(format_args!("checking {}", dest.display()))(e)),
    }
}

/// `PRAGMA integrity_check`'s findings: `["ok"]` for a sound database.
fn integrity_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Fails with `Corrupt` unless `conn`'s database passes the check.
fn ensure_sound(conn: &Connection, path: &Path) -> Result<(), Error> {
    let problems =
        integrity_check(conn).map_err(sqlite(format_args!("checking {}", path.display())))?;
    if problems != ["ok"] {
        return Err(Error::Corrupt {
            path: path.into(),
            problems: problems.into_iter().take(5).collect::<Vec<_>>().join("; "),
        });
    }
    Ok(())
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// A temporary file, removed when dropped unless kept.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
            // Left by an interrupted verification, if any.
            for suffix in ["-journal", "-wal", "-shm"] {
                let _ = fs::remove_file(with_suffix(&self.path, suffix));
            }
        }
    }
}

/// `path` with `suffix` appended to its file name (`kith.db` -> `kith.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A verified copy in a temporary file beside its destination, not yet in
/// place.
struct Staged {
    tmp: TempFile,
    /// The directory, absolute, holding both.
    dir: PathBuf,
    dest: PathBuf,
    schema_version: i64,
}

impl Staged {
    /// Copies the database open on `src` to a temporary file beside
    /// `dest`, switches it to a rollback journal, verifies and syncs it.
    fn copy(src: &Connection, dest: &Path, reading: &str) -> Result<Staged, Error> {
        let name = dest
            .file_name()
            .ok_or_else(|| Error::DestinationIsDirectory(dest.into()))?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // Absolute, so that SQLite never reads the name as a URI.
        let dir = fs::canonicalize(parent).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NoDirectory(parent.into()),
            io::ErrorKind::NotADirectory => Error::NotADirectory(parent.into()),
            _ => Error::Unwritable {
                dir: parent.into(),
                err: e,
            },
        })?;
        if !dir.is_dir() {
            return Err(Error::NotADirectory(parent.into()));
        }
        let tmp = TempFile {
            path: dir.join(format!(
                ".{}.{}.tmp",
                name.to_string_lossy(),
                std::process::id()
            )),
            keep: false,
        };
        // Created here (VACUUM INTO accepts an empty file) so that a
        // directory we may not write in is reported as such.
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp.path)
            .map_err(|err| Error::Unwritable {
                dir: dir.clone(),
                err,
            })?;
        let target = tmp.path.to_str().ok_or_else(|| Error::Unwritable {
            dir: dir.clone(),
            err: io::Error::new(io::ErrorKind::InvalidInput, "the path is not UTF-8"),
        })?;
        src.execute("VACUUM INTO ?1", [target])
            .map_err(sqlite(reading))?;
        let schema_version = verify(&tmp.path)?;
        File::open(&tmp.path)
            .and_then(|f| f.sync_all())
            .map_err(io_err(format_args!("syncing {}", tmp.path.display())))?;
        Ok(Staged {
            dest: dir.join(name),
            tmp,
            dir,
            schema_version,
        })
    }

    /// Puts the copy in place: replaces an existing destination only with
    /// `force`.
    fn publish(mut self, force: bool) -> Result<Snapshot, Error> {
        let dest = self.dest.clone();
        let placing = || format!("writing {}", dest.display());
        if force {
            fs::rename(&self.tmp.path, &dest).map_err(io_err(placing()))?;
            self.tmp.keep = true;
        } else {
            // A link, unlike a rename, never replaces: a file that appeared
            // at the destination since it was checked is not lost.
            match fs::hard_link(&self.tmp.path, &dest) {
                // The temporary name goes with `self.tmp`.
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(Error::Exists(dest.clone()));
                }
                // No hard links on this file system (some network and FUSE
                // ones): rename, after one more look.
                Err(_) if fs::symlink_metadata(&dest).is_err() => {
                    fs::rename(&self.tmp.path, &dest).map_err(io_err(placing()))?;
                    self.tmp.keep = true;
                }
                Err(e) => return Err(io_err(placing())(e)),
            }
        }
        // The rename is durable once the directory is synced. Not every
        // file system can sync a directory; the copy itself is synced.
        let _ = File::open(&self.dir).and_then(|d| d.sync_all());
        let bytes = fs::metadata(&dest).map_err(io_err(placing()))?.len();
        Ok(Snapshot {
            path: dest,
            bytes,
            schema_version: self.schema_version,
        })
    }
}

/// Makes a fresh copy one self-contained file and checks it; returns its
/// schema version.
fn verify(path: &Path) -> Result<i64, Error> {
    let checking = format!("checking the copy {}", path.display());
    crate::db::engine::init();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite(&checking))?;
    conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    })
    .map_err(sqlite(&checking))?;
    ensure_sound(&conn, path)?;
    let version = user_version(&conn).map_err(sqlite(&checking))?;
    conn.close().map_err(|(_, e)| sqlite(&checking)(e))?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kith_db(dir: &Path) -> PathBuf {
        let db = dir.join("kith.db");
        let conn = crate::db::open_writer_connection(&db).expect("open");
        conn.execute_batch("INSERT INTO settings (key, value) VALUES ('test', x'01');")
            .expect("write");
        db
    }

    #[test]
    fn a_backup_is_a_verified_single_file_copy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = kith_db(dir.path());
        let dest = dir.path().join("copy.db");
        let snap = backup(&db, &dest, false).expect("backup");
        assert_eq!(snap.schema_version, crate::db::schema::latest());
        assert_eq!(snap.bytes, fs::metadata(&dest).expect("copy").len());
        let mode: String = Connection::open(&dest)
            .expect("open copy")
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal mode");
        assert_eq!(mode, "delete");
        // Nothing left beside it.
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("kith.db"))
            .collect();
        names.sort();
        assert_eq!(names, ["copy.db"]);
    }

    #[test]
    fn a_backup_never_replaces_without_force() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = kith_db(dir.path());
        let dest = dir.path().join("copy.db");
        fs::write(&dest, "precious").expect("write");
        assert!(matches!(backup(&db, &dest, false), Err(Error::Exists(_))));
        assert_eq!(fs::read(&dest).expect("read"), b"precious");
        // Appeared between the check and the rename: still not replaced.
        let src = Connection::open(&db).expect("open");
        let staged = Staged::copy(&src, &dir.path().join("late.db"), "reading").expect("copy");
        fs::write(dir.path().join("late.db"), "late").expect("write");
        assert!(matches!(staged.publish(false), Err(Error::Exists(_))));
        assert_eq!(fs::read(dir.path().join("late.db")).expect("read"), b"late");
        assert!(matches!(
            backup(&db, &db, true),
            Err(Error::IsTheDatabase(_))
        ));
        backup(&db, &dest, true).expect("forced");
        assert_ne!(fs::read(&dest).expect("read"), b"precious");
        let leftovers = fs::read_dir(dir.path())
            .expect("list")
            .filter(|e| {
                e.as_ref()
                    .map(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                    .unwrap_or(false)
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn bad_paths_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = kith_db(dir.path());
        let missing = dir.path().join("nope.db");
        assert!(matches!(
            backup(&missing, &dir.path().join("x.db"), false),
            Err(Error::NoDatabase(_))
        ));
        assert!(!missing.exists(), "a missing database is not created");
        assert!(matches!(
            backup(&db, dir.path(), false),
            Err(Error::DestinationIsDirectory(_))
        ));
        assert!(matches!(
            backup(&db, &dir.path().join("no/such/dir/x.db"), false),
            Err(Error::NoDirectory(_))
        ));
        fs::write(dir.path().join("file"), "").expect("write");
        assert!(matches!(
            backup(&db, &dir.path().join("file/x.db"), false),
            Err(Error::NotADirectory(_))
        ));
    }
}
