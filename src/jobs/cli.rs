//! `kith jobs list|retry|cancel`: the queue from the command line, on the
//! database file (beside a running server: its writer and this one take
//! turns through SQLite's lock).

use std::path::Path;

use crate::config::JobsCmd;
use crate::store::jobs::{Cancel, Retry};
use kith_core::ids::{Id, format_ms};

/// Runs the command; returns what to print.
pub fn run(db: &Path, action: JobsCmd) -> anyhow::Result<String> {
    let conn = crate::db::open_writer_connection(db)?;
    match action {
        JobsCmd::List { status, limit, .. } => {
            let mut out = format!(
                "{:<14} {:<8} {:<10} {:>8} {:>8}  {:<24} {}\n",
                "id", "kind", "status", "attempts", "progress", "updated", "last error"
            );
            let mut stmt = conn.prepare(
                "SELECT id, kind, status, attempts, max_attempts, progress, updated_at, last_error
                 FROM jobs WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(rusqlite::params![status, limit.clamp(1, 10_000)], |r| {
                Ok((
                    Id(r.get(0)?),
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, f64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })?;
            for row in rows {
                let (id, kind, status, a, m, p, updated, err) = row?;
                out.push_str(&format!(
                    "{:<14} {:<8} {:<10} {:>8} {:>7.0}%  {:<24} {}\n",
                    id.to_string(),
                    kind,
                    status,
                    format!("{a}/{m}"),
                    p * 100.0,
                    format_ms(updated),
                    err.unwrap_or_default()
                ));
            }
            Ok(out)
        }
        JobsCmd::Retry { id, .. } => {
            let id: Id = id
                .parse()
                .map_err(|_| anyhow::anyhow!("not a job id: {id}"))?;
            crate::db::apply_alone(&conn, Retry { id })?;
            Ok(format!("job {id} queued again\n"))
        }
        JobsCmd::Cancel { id, .. } => {
            let id: Id = id
                .parse()
                .map_err(|_| anyhow::anyhow!("not a job id: {id}"))?;
            crate::db::apply_alone(&conn, Cancel { id, user: None })?;
            Ok(format!("job {id} cancelled\n"))
        }
    }
}
