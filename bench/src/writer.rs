//! The writer's group commit against one transaction per write.
//!
//! Both sides run the very same `Command::apply` code on the same kind of
//! file (kith's schema and pragmas); the only difference is how writes are
//! grouped into transactions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kith::db::{AnyCommand, Writer};
use kith::ids::{Id, now_ms};
use kith::store::Command;
use kith::store::posts::{CreatePost, Like, Visibility};
use rusqlite::{Connection, params};

use crate::Opts;

/// Concurrent callers of the writer, as concurrent requests would be.
const CALLERS: [usize; 3] = [16, 64, 256];
const BODY: &str = "a benchmark post with a few words in it for the full-text index";
const USERS: usize = 100;
const POSTS: usize = 1000;

pub fn sqlite_version() -> String {
    rusqlite::version().to_string()
}

#[derive(Clone, Copy)]
enum Workload {
    /// New public posts: a row, its FTS5 entry and the author's counter.
    Post,
    /// Likes of random (post, user) pairs: a visibility check, a row and
    /// the post's counter. The most frequent write of a social app.
    Like,
}

/// A seeded database: its directory, the write connection, users, posts.
type Fixture = (tempfile::TempDir, Connection, Arc<Vec<Id>>, Arc<Vec<Id>>);

/// A database with kith's schema and pragmas (then `synchronous` as asked),
/// `USERS` users and `POSTS` posts.
fn fresh(sync: &str) -> anyhow::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let mut conn = kith::db::open_writer_connection(&dir.path().join("kith.db"))?;
    conn.pragma_update(None, "synchronous", sync)?;
    let tx = conn.transaction()?;
    let mut users = Vec::new();
    for i in 0..USERS {
        let id = Id::generate();
        tx.execute(
            "INSERT INTO users (id, username, display_name, password_hash, created_at)
             VALUES (?, ?, ?, 'x', ?)",
            params![id.0, format!("u{i}"), format!("u{i}"), now_ms()],
        )?;
        users.push(id);
    }
    let mut posts = Vec::new();
    for i in 0..POSTS {
        let id = Id::generate();
        tx.execute(
            "INSERT INTO posts (id, author_id, body, visibility, created_at)
             VALUES (?, ?, ?, 'public', ?)",
            params![id.0, users[i % USERS].0, BODY, now_ms()],
        )?;
        posts.push(id);
    }
    tx.commit()?;
    Ok((dir, conn, Arc::new(users), Arc::new(posts)))
}

fn command(w: Workload, i: usize, users: &[Id], posts: &[Id]) -> AnyCommand {
    match w {
        Workload::Post => CreatePost {
            id: Id::generate(),
            author: users[i % USERS],
            body: BODY.into(),
            visibility: Visibility::Public,
            media: Vec::new(),
        }
        .into(),
        Workload::Like => Like {
            post: posts[(i * 7919) % POSTS],
            user: users[(i * 104_729 / POSTS) % USERS],
            notification: Id::generate(),
        }
        .into(),
    }
}

/// Writes per second through the writer with `callers_n` concurrent
/// callers, and the mean batch size.
async fn group_commit(
    w: Workload,
    sync: &str,
    callers_n: usize,
    dur: Duration,
) -> anyhow::Result<(f64, u64)> {
    let (dir, conn, users, posts) = fresh(sync)?;
    let (writer, task) = Writer::start(conn);
    let _checkpointer = kith::db::Checkpointer::start(&dir.path().join("kith.db"))?;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut callers = Vec::new();
    for c in 0..callers_n {
        let (writer, done, stop) = (writer.clone(), done.clone(), stop.clone());
        let (users, posts) = (users.clone(), posts.clone());
        callers.push(tokio::spawn(async move {
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                if writer.run(command(w, i, &users, &posts)).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                i += callers_n;
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

/// Writes per second running the same commands one transaction each.
fn per_write(w: Workload, sync: &str, dur: Duration) -> anyhow::Result<f64> {
    let (dir, conn, users, posts) = fresh(sync)?;
    let _checkpointer = kith::db::Checkpointer::start(&dir.path().join("kith.db"))?;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < dur {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        command(w, n, &users, &posts)
            .apply(&conn)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        conn.execute_batch("COMMIT")?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// The physical limit the writer works against: plain rows (an integer key,
/// an integer, 64 bytes of text) inserted through one prepared statement,
/// `batch` rows per transaction, WAL with `synchronous=FULL`, on a file in
/// the same temporary directory the other scenarios use. Rows per second.
pub fn raw_batched(batch: usize, dur: Duration) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut conn = Connection::open(dir.path().join("raw.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT NOT NULL)",
    )?;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < dur {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("INSERT INTO t (a, b) VALUES (?, ?)")?;
            for _ in 0..batch {
                stmt.execute(params![n as i64, BODY])?;
                n += 1;
            }
        }
        tx.commit()?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Batch sizes of the physical reference.
pub const RAW_BATCHES: [usize; 3] = [1, 100, 1000];

/// Likes per second through kith's writer with 64 concurrent callers
/// (`synchronous=FULL`), for reading against [`raw_batched`].
pub async fn writer_likes(dur: Duration) -> anyhow::Result<f64> {
    Ok(group_commit(Workload::Like, "FULL", 64, dur).await?.0)
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    println!(
        "## Physical reference: raw SQLite batched inserts on this disk
"
    );
    println!(
        "Plain rows (integer key, integer, {} bytes of text) through one prepared statement, N rows per transaction, WAL and `synchronous=FULL`, {:.0} s per row: the ceiling for any writer on this disk. One row per transaction is the fsync rate.
",
        BODY.len(),
        opts.writer_duration.as_secs_f64()
    );
    println!("| rows per transaction | rows/s | transactions/s |");
    println!("|---|---|---|");
    for batch in RAW_BATCHES {
        let rows = raw_batched(batch, opts.writer_duration)?;
        println!("| {batch} | {rows:.0} | {:.0} |", rows / batch as f64);
    }
    println!();
    println!("## Writer: group commit vs one transaction per write\n");
    println!(
        "The same `Command::apply` code on both sides, {:.0} s per row, on a database of \
         {USERS} users and {POSTS} posts. The writer is called by N concurrent tasks, as N \
         concurrent requests would; the baseline is one connection looping \
         BEGIN / command / COMMIT.\n",
        opts.writer_duration.as_secs_f64()
    );
    println!(
        "| write | synchronous | callers | writer (group commit) | writes per batch | one txn per write | ratio |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, w) in [("like", Workload::Like), ("post (+FTS5)", Workload::Post)] {
        for sync in ["FULL", "NORMAL"] {
            let single = per_write(w, sync, opts.writer_duration)?;
            let callers: &[usize] = if sync == "FULL" {
                &CALLERS
            } else {
                &CALLERS[1..2]
            };
            for &n in callers {
                let (grouped, per_batch) = group_commit(w, sync, n, opts.writer_duration).await?;
                println!(
                    "| {name} | {sync}{} | {n} | {grouped:.0}/s | {per_batch} | {single:.0}/s | {:.1}x |",
                    if sync == "FULL" { " (kith)" } else { "" },
                    grouped / single
                );
            }
        }
    }
    println!();
    Ok(())
}
