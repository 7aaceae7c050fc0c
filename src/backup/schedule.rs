//! Periodic backups in the serving process (`--backup-every`): the primary
//! writes `kith-YYYYMMDDTHHMMSSZ.db` (UTC) into the backup directory and
//! deletes the oldest beyond `--backup-keep`.
//!
//! Only the primary backs up: every node of a cluster reads the same
//! database, and one copy per period is enough. The role is asked at each
//! period, so backups follow a primary that moves.
//!
//! The first backup is due one period after the newest already in the
//! directory (at once when there is none), so a server restarted more
//! often than the period still takes them. Rotation only ever deletes
//! files named like its own backups, so other files in the directory are
//! safe.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use tokio::time::Instant;

use super::{Error, Snapshot};
use crate::cluster::{Cluster, Role};
use crate::config::BackupConfig;
use crate::tasks::Tasks;

const PREFIX: &str = "kith-";
const SUFFIX: &str = "Z.db";
const STAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]");

/// The file name of a backup taken at `at` (UTC).
pub fn file_name(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    // Formatting a valid date with literal items cannot fail.
    format!("{PREFIX}{}{SUFFIX}", at.format(STAMP).unwrap_or_default())
}

/// When the backup named `name` was taken; `None` for any other name.
pub fn taken_at(name: &str) -> Option<OffsetDateTime> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let at = time::PrimitiveDateTime::parse(stamp, STAMP).ok()?;
    Some(at.assume_utc())
}

/// When the copy in the temporary file `name` was started (`backup` names
/// it `.{final name}.{pid}.tmp`).
fn temp_taken_at(name: &str) -> Option<OffsetDateTime> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (backup, pid) = inner.rsplit_once('.')?;
    pid.parse::<u32>().ok()?;
    taken_at(backup)
}

/// Which of the files `names` to delete so that the newest `keep` backups
/// remain, and with them the temporary files of copies that were
/// interrupted (started before the newest finished backup).
pub fn to_delete(names: &[String], keep: usize) -> Vec<String> {
    let mut backups: Vec<(OffsetDateTime, &String)> = names
        .iter()
        .filter_map(|n| Some((taken_at(n)?, n)))
        .collect();
    backups.sort();
    let newest = backups.last().map(|(at, _)| *at);
    let excess = backups.len().saturating_sub(keep);
    let mut doomed: Vec<String> = backups[..excess]
        .iter()
        .map(|(_, n)| (*n).clone())
        .collect();
    doomed.extend(
        names
            .iter()
            .filter(|n| {
                temp_taken_at(n)
                    .zip(newest)
                    .is_some_and(|(t, newest)| t < newest)
            })
            .cloned(),
    );
    doomed
}

/// How long to wait before the first backup, given the newest one already
/// taken.
pub fn first_delay(
    newest: Option<OffsetDateTime>,
    now: OffsetDateTime,
    every: Duration,
) -> Duration {
    let Some(newest) = newest else {
        return Duration::ZERO;
    };
    let age = Duration::try_from(now - newest).unwrap_or(Duration::ZERO);
    // A newest backup dated in the future (a clock set back) waits one
    // period at most.
    every.saturating_sub(age).min(every)
}

/// The files in `dir` (names that are not UTF-8 are none of ours).
fn file_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What one backup period did.
#[derive(Debug)]
pub enum Period {
    /// A backup was written and `deleted` older files were removed.
    Taken { snapshot: Snapshot, deleted: usize },
    /// This node is not the primary; the primary backs up.
    NotPrimary,
}

/// What the backup schedule uses of its node.
pub struct Schedule {
    /// The database file.
    pub db: PathBuf,
    /// Whose role decides whether this node backs up; `None` on a single
    /// node, which always does.
    pub cluster: Option<Arc<Cluster>>,
    pub tasks: Tasks,
}

impl Schedule {
    fn is_primary(&self) -> bool {
        self.cluster
            .as_ref()
            .is_none_or(|c| c.role() == Role::Primary)
    }
}

/// Takes one backup now, if this node is the primary, and rotates.
pub async fn try_take_one(node: &Schedule, cfg: &BackupConfig) -> Result<Period, Error> {
    if !node.is_primary() {
        return Ok(Period::NotPrimary);
    }
    let (db, cfg) = (node.db.clone(), cfg.clone());
    // A copy is blocking file and SQLite work, seconds to minutes long.
    tokio::task::spawn_blocking(move || take_one(&db, &cfg, OffsetDateTime::now_utc()))
        .await
        .map_err(|e| Error::Io {
            what: "the backup task".into(),
            err: std::io::Error::other(e),
        })?
}

/// Copies the database at `db` into the backup directory as a backup taken
/// at `now`, then deletes what `to_delete` says.
pub fn take_one(db: &Path, cfg: &BackupConfig, now: OffsetDateTime) -> Result<Period, Error> {
    fs::create_dir_all(&cfg.dir).map_err(|err| Error::Unwritable {
        dir: cfg.dir.clone(),
        err,
    })?;
    let snapshot = super::backup(db, &cfg.dir.join(file_name(now)), false)?;
    let mut deleted = 0;
    for name in to_delete(&file_names(&cfg.dir), cfg.keep) {
        match fs::remove_file(cfg.dir.join(&name)) {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(file = %name, error = %e, "deleting an old backup"),
        }
    }
    Ok(Period::Taken { snapshot, deleted })
}

/// Takes a backup every `cfg.every` until the node stops. A backup under
/// way then is finished, not cut short.
pub async fn run(node: Schedule, cfg: BackupConfig) {
    let newest = file_names(&cfg.dir)
        .iter()
        .filter_map(|n| taken_at(n))
        .max();
    let first = first_delay(newest, OffsetDateTime::now_utc(), cfg.every);
    let mut next = later(Instant::now(), first);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = node.tasks.stopping() => return,
        }
        let started = Instant::now();
        match try_take_one(&node, &cfg).await {
            Ok(Period::Taken { snapshot, deleted }) => tracing::info!(
                path = %snapshot.path.display(),
                bytes = snapshot.bytes,
                schema_version = snapshot.schema_version,
                deleted,
                ms = started.elapsed().as_millis() as u64,
                "database backed up"
            ),
            Ok(Period::NotPrimary) => tracing::debug!("not the primary: no backup"),
            Err(e) => tracing::warn!(error = %e, dir = %cfg.dir.display(), "backup failed"),
        }
        next = later(started, cfg.every);
    }
}

/// `at + d`, or as far as a timer goes for a period too long to add.
fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .unwrap_or_else(|| at + Duration::from_secs(86_400 * 365 * 30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names_round_trip() {
        let at = datetime!(2025-03-07 04:05:06 UTC);
        assert_eq!(file_name(at), "kith-20250307T040506Z.db");
        assert_eq!(taken_at("kith-20250307T040506Z.db"), Some(at));
        let local = datetime!(2025-03-07 05:05:06 +1);
        assert_eq!(file_name(local), "kith-20250307T040506Z.db");
        for other in [
            "kith.db",
            "kith-20250307T040506Z.db-wal",
            "kith-20251307T040506Z.db",
            "kith-20250307T040506.db",
            "notes.txt",
        ] {
            assert_eq!(taken_at(other), None, "{other}");
        }
        assert_eq!(
            temp_taken_at(".kith-20250307T040506Z.db.4242.tmp"),
            Some(at)
        );
        assert_eq!(temp_taken_at(".notes.txt.4242.tmp"), None);
    }

    #[test]
    fn rotation_keeps_the_newest_and_nothing_else_of_ours() {
        let names: Vec<String> = [
            "kith-20250103T000000Z.db",
            "kith-20250101T000000Z.db",
            "notes.txt",
            "kith-20250104T000000Z.db",
            "kith-20250102T000000Z.db",
            ".kith-20250102T120000Z.db.77.tmp",
            ".kith-20250105T000000Z.db.78.tmp",
            "kith.db",
        ]
        .map(String::from)
        .to_vec();
        let mut doomed = to_delete(&names, 2);
        doomed.sort();
        assert_eq!(
            doomed,
            [
                ".kith-20250102T120000Z.db.77.tmp",
                "kith-20250101T000000Z.db",
                "kith-20250102T000000Z.db",
            ]
        );
        assert_eq!(to_delete(&names, 10), [".kith-20250102T120000Z.db.77.tmp"]);
        assert!(to_delete(&["notes.txt".to_owned()], 1).is_empty());
    }

    #[test]
    fn the_first_backup_follows_the_newest() {
        let every = Duration::from_secs(3600);
        let now = datetime!(2025-01-01 12:00:00 UTC);
        assert_eq!(first_delay(None, now, every), Duration::ZERO);
        let recent = datetime!(2025-01-01 11:40:00 UTC);
        assert_eq!(
            first_delay(Some(recent), now, every),
            Duration::from_secs(2400)
        );
        let old = datetime!(2024-12-31 00:00:00 UTC);
        assert_eq!(first_delay(Some(old), now, every), Duration::ZERO);
        let future = datetime!(2025-01-02 00:00:00 UTC);
        assert_eq!(first_delay(Some(future), now, every), every);
    }

    #[test]
    fn take_one_writes_and_rotates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("kith.db");
        crate::db::migrate(&db).expect("migrate");
        let cfg = BackupConfig {
            every: Duration::from_secs(1),
            dir: dir.path().join("backups"),
            keep: 2,
        };
        let start = datetime!(2025-01-01 00:00:00 UTC);
        for i in 0..4 {
            let at = start + Duration::from_secs(i);
            match take_one(&db, &cfg, at).expect("backup") {
                Period::Taken { deleted, .. } => assert_eq!(deleted, usize::from(i >= 2)),
                Period::NotPrimary => panic!("not asked"),
            }
        }
        let mut left = file_names(&cfg.dir);
        left.sort();
        assert_eq!(
            left,
            ["kith-20250101T000002Z.db", "kith-20250101T000003Z.db"]
        );
        // The same second again: refused, not replaced.
        assert!(matches!(
            take_one(&db, &cfg, start + Duration::from_secs(3)),
            Err(Error::Exists(_))
        ));
    }
}
