//! The writer's group commit against one transaction per write.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kith::db::{Command, Writer};
use kith::ids::{Id, now_ms};
use kith::social::posts::{Cmd as PostCmd, Visibility};
use rusqlite::{Connection, params};

use crate::Opts;

/// Concurrent callers of the writer, as concurrent requests would be.
const CALLERS: usize = 64;
const BODY: &str = "a benchmark post with a few words in it for the full-text index";

pub fn sqlite_version() -> String {
    rusqlite::version().to_string()
}

/// A new database with kith's schema and pragmas (then `synchronous` as
/// asked) and one user.
fn fresh(sync: &str) -> anyhow::Result<(tempfile::TempDir, Connection, Id)> {
    let dir = tempfile::tempdir()?;
    let conn = kith::db::open_writer_connection(&dir.path().join("kith.db"))?;
    conn.pragma_update(None, "synchronous", sync)?;
    let user = Id::generate();
    conn.execute(
        "INSERT INTO users (id, username, display_name, password_hash, created_at)
         VALUES (?, 'bench', 'bench', 'x', ?)",
        params![user.0, now_ms()],
    )?;
    Ok((dir, conn, user))
}

/// Posts per second through the writer with `CALLERS` concurrent callers.
async fn group_commit(sync: &str, dur: Duration) -> anyhow::Result<(f64, u64)> {
    let (_dir, conn, user) = fresh(sync)?;
    let (writer, task) = Writer::start(conn);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let (writer, done, stop): (Writer, _, _) = (writer.clone(), done.clone(), stop.clone());
        callers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let cmd = Command::Posts(PostCmd::Create {
                    id: Id::generate(),
                    author: user,
                    body: BODY.into(),
                    visibility: Visibility::Public,
                });
                if writer.exec(cmd).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    let batches = writer.position();
    writer.stop().await;
    task.await?;
    Ok((n as f64 / secs, n / batches.max(1)))
}

/// Posts per second with BEGIN/INSERT/COMMIT per post on one connection
/// (the same driver, SQL and triggers as the writer; no savepoints).
fn per_write(sync: &str, dur: Duration) -> anyhow::Result<f64> {
    let (_dir, mut conn, user) = fresh(sync)?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT INTO posts (id, author_id, body, visibility, created_at)
             VALUES (?, ?, ?, 'public', ?)",
        )?
        .execute(params![Id::generate().0, user.0, BODY, now_ms()])?;
        tx.commit()?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    println!("## Writer: group commit vs one transaction per write\n");
    println!(
        "Inserting posts (with their FTS and counter triggers), {CALLERS} concurrent callers, {:.0} s each.\n",
        opts.writer_duration.as_secs_f64()
    );
    println!(
        "| synchronous | writer (group commit) | writes per batch | one txn per write | ratio |"
    );
    println!("|---|---|---|---|---|");
    for sync in ["FULL", "NORMAL"] {
        let (grouped, per_batch) = group_commit(sync, opts.writer_duration).await?;
        let single = per_write(sync, opts.writer_duration)?;
        println!(
            "| {sync}{} | {grouped:.0}/s | {per_batch} | {single:.0}/s | {:.1}x |",
            if sync == "FULL" {
                " (kith's setting)"
            } else {
                ""
            },
            grouped / single
        );
    }
    println!();
    Ok(())
}
