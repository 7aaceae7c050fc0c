//! Applies `schema.sql`, the one schema, step by step.
//!
//! The file is split at lines `-- step N`; step N runs (in one transaction)
//! only when `PRAGMA user_version` is below N, and sets it to N. A database
//! written by a newer kith (a higher version than this binary knows) is
//! refused rather than guessed at.

use anyhow::{Context, bail};

const SCHEMA: &str = include_str!("../../schema.sql");

/// The schema's steps in order: (version, SQL).
pub fn steps() -> Vec<(i64, &'static str)> {
    let mut steps = Vec::new();
    let mut current: Option<(i64, usize)> = None;
    let mut offset = 0;
    for line in SCHEMA.split_inclusive('\n') {
        let step = line
            .trim()
            .strip_prefix("-- step ")
            .and_then(|n| n.parse::<i64>().ok());
        if let Some(n) = step {
            if let Some((v, start)) = current {
                steps.push((v, &SCHEMA[start..offset]));
            }
            current = Some((n, offset + line.len()));
        }
        offset += line.len();
    }
    if let Some((v, start)) = current {
        steps.push((v, &SCHEMA[start..]));
    }
    steps
}

/// The newest version this binary knows.
pub fn latest() -> i64 {
    steps().last().map(|s| s.0).unwrap_or(0)
}

pub fn version(conn: &rusqlite::Connection) -> anyhow::Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database up to the latest step.
pub fn apply(conn: &mut rusqlite::Connection) -> anyhow::Result<()> {
    let have = version(conn)?;
    let latest = latest();
    if have > latest {
        bail!("database schema version {have} is newer than this kith knows ({latest})");
    }
    for (n, sql) in steps().into_iter().filter(|(n, _)| *n > have) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .with_context(|| format!("applying schema step {n}"))?;
        tx.pragma_update(None, "user_version", n)?;
        tx.commit()?;
        tracing::info!(step = n, "applied schema step");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_in_order() {
        let steps = steps();
        assert!(!steps.is_empty());
        for (i, (n, sql)) in steps.iter().enumerate() {
            assert_eq!(*n, i as i64 + 1);
            // Every step changes the schema: it creates or alters something.
            assert!(
                sql.contains("CREATE") || sql.contains("ALTER TABLE"),
                "step {n} changes nothing"
            );
        }
    }
}
