//! `kith.lock` in the data directory: tells `kith restore` that a server is
//! running there.
//!
//! A serving process holds a shared lock on the file for as long as it
//! runs; `kith restore` takes it exclusively for as long as it replaces the
//! database. So a restore refuses to start while a server runs, and a
//! server refuses to start while a restore runs. Shared, not exclusive:
//! kith has never refused two servers on one data directory, and this lock
//! is not the place to start.
//!
//! Why a file in the data directory rather than beside the database: on
//! Fly.io the database lives in the LiteFS mount, which holds databases and
//! nothing else. The locks are `flock`s (`File::try_lock`): the kernel drops
//! them when the process exits, however it exits, so a crash leaves no
//! stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "kith.lock";

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it in a conflicting mode.
    Held(PathBuf),
    /// The file could not be opened, or the file system has no locks.
    Io(PathBuf, io::Error),
}

impl DataDirLock {
    /// The lock a serving process holds: shared with other servers,
    /// refused while a restore holds it.
    pub fn serving(data_dir: &Path) -> Result<DataDirLock, LockError> {
        Self::take(data_dir, |f| f.try_lock_shared())
    }

    /// The lock a restore holds: refused while anything else holds it.
    pub fn restoring(data_dir: &Path) -> Result<DataDirLock, LockError> {
        Self::take(data_dir, File::try_lock)
    }

    fn take(
        data_dir: &Path,
        lock: impl FnOnce(&File) -> Result<(), TryLockError>,
    ) -> Result<DataDirLock, LockError> {
        let path = data_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LockError::Io(path.clone(), e))?;
        match lock(&file) {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held(path)),
            Err(TryLockError::Error(e)) => Err(LockError::Io(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // flock conflicts between open files, so one process can play both
    // sides.
    #[test]
    fn servers_share_and_a_restore_excludes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = DataDirLock::serving(dir.path()).expect("first server");
        let b = DataDirLock::serving(dir.path()).expect("second server");
        assert!(matches!(
            DataDirLock::restoring(dir.path()),
            Err(LockError::Held(_))
        ));
        drop((a, b));
        let r = DataDirLock::restoring(dir.path()).expect("no server left");
        assert!(matches!(
            DataDirLock::serving(dir.path()),
            Err(LockError::Held(_))
        ));
        drop(r);
        DataDirLock::serving(dir.path()).expect("restore done");
    }
}
