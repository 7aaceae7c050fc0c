//! `kith backup`, `kith restore` and `--backup-every`, run as the real
//! binary beside real `kith serve` processes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::helpers::{Client, TIMEOUT, password_of, until_healthy, within};

const KITH: &str = env!("CARGO_BIN_EXE_kith");

/// A `kith serve` process on a port of its own choosing.
struct Server {
    child: Child,
    base: String,
    /// Everything it printed, for failure messages.
    log: Arc<Mutex<String>>,
}

/// Reads `out` line by line into `log` and `lines` until it closes (the
/// pipe must be drained or the server would block on its logging).
fn drain(
    out: impl AsyncRead + Unpin + Send + 'static,
    log: Arc<Mutex<String>>,
    lines: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut out = BufReader::new(out).lines();
        while let Ok(Some(line)) = out.next_line().await {
            log.lock().expect("log").push_str(&format!("{line}\n"));
            let _ = lines.send(line);
        }
    });
}

/// `line` without terminal colour codes.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            let _ = chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

impl Server {
    async fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(KITH)
            .args(["serve", "--listen", "127.0.0.1:0", "--no-webtransport"])
            .args(["--workers", "0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn kith serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, mut lines) = mpsc::unbounded_channel();
        drain(
            child.stdout.take().expect("stdout"),
            log.clone(),
            tx.clone(),
        );
        drain(child.stderr.take().expect("stderr"), log.clone(), tx);
        // Port 0: the address is the one it logs once it listens.
        let addr = tokio::time::timeout(TIMEOUT, async {
            while let Some(line) = lines.recv().await {
                let line = plain(&line);
                if line.contains("kith listening")
                    && let Some(at) = line.find("addr=")
                {
                    return Some(line[at + 5..].split_whitespace().next()?.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("kith did not start:\n{}", log.lock().expect("log")));
        let server = Server {
            child,
            base: format!("http://{addr}"),
            log,
        };
        let mut server = server;
        if let Err(why) = until_healthy(&server.base, &mut server.child).await {
            panic!("{why}:\n{}", server.log());
        }
        server
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .timeout(TIMEOUT)
                .build()
                .expect("client"),
        }
    }

    async fn signup(&self, name: &str) -> Client {
        let c = self.client();
        let (status, v) = c
            .post(
                "/api/auth/signup",
                json!({"username": name, "password": password_of(name)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "signup {name}: {v}");
        c
    }

    async fn login(&self, name: &str) -> Client {
        let c = self.client();
        let (status, v) = c.login(name, &password_of(name)).await;
        assert_eq!(status, StatusCode::OK, "login {name}: {v}");
        c
    }

    /// SIGTERM, and a clean exit.
    async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = tokio::time::timeout(TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("kith did not stop:\n{}", self.log()))
            .expect("wait");
        assert!(status.success(), "exit {status:?}:\n{}", self.log());
    }
}

/// Runs `kith ARGS` to completion.
async fn kith(args: &[&Path]) -> Output {
    let out = Command::new(KITH)
        .args(args)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    within(out).await.expect("run kith")
}

fn p(s: &str) -> &Path {
    Path::new(s)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a failure that explains itself: non-zero, no panic, and a
/// message containing every one of `words`.
fn assert_refused(out: &Output, words: &[&str]) {
    let (stdout, stderr) = text(out);
    assert!(!out.status.success(), "succeeded: {stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for w in words {
        assert!(stderr.contains(w), "{w:?} not in: {stderr}");
    }
}

fn assert_ok(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "failed: {stderr}{stdout}");
    stdout
}

fn open_ro(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open the database")
}

/// Every table's rows as sorted text: the same data gives the same dump,
/// whatever the order of rows and pages.
fn dump(db: &Path) -> BTreeMap<String, Vec<String>> {
    let conn = open_ro(db);
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .expect("tables");
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("tables")
        .collect::<Result<_, _>>()
        .expect("table names");
    let mut all = BTreeMap::new();
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\""))
            .expect("select");
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| Ok(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?)))
                    .collect::<Result<Vec<_>, rusqlite::Error>>()
                    .map(|v| v.join("|"))
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("row");
        rows.sort();
        all.insert(table, rows);
    }
    assert!(all.contains_key("posts"), "{all:?}");
    all
}

fn post_bodies(db: &Path) -> std::collections::HashSet<String> {
    let conn = open_ro(db);
    let mut stmt = conn.prepare("SELECT body FROM posts").expect("select");
    stmt.query_map([], |r| r.get(0))
        .expect("posts")
        .collect::<Result<_, _>>()
        .expect("bodies")
}

#[tokio::test]
async fn a_backup_under_load_restores_to_the_same_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("source");
    let server = Server::start(&source, &[], &[]).await;
    let names = ["ann", "ben", "cat"];
    let mut clients = Vec::new();
    for name in names {
        clients.push((name, server.signup(name).await));
    }

    // Each writer posts and likes its post, over and over, keeping the
    // bodies the server acknowledged.
    let acked: Arc<Mutex<Vec<(&str, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for (name, client) in clients {
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = format!("{name} says {n}");
                let (status, v) = client
                    .post("/api/posts", json!({"body": body, "visibility": "public"}))
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{v}");
                let id = v["post"]["id"].as_str().expect("id").to_owned();
                let (status, v) = client.put(&format!("/api/posts/{id}/like")).await;
                assert_eq!(status, StatusCode::OK, "{v}");
                acked.lock().expect("acked").push((name, body));
            }
        }));
    }
    within(async {
        while acked.lock().expect("acked").len() < 30 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // The backup, while the writers go on.
    let before: Vec<String> = acked
        .lock()
        .expect("acked")
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    let backup = dir.path().join("kith-backup.db");
    let out = kith(&[p("backup"), &backup, p("--data-dir"), &source]).await;
    let stdout = assert_ok(&out);
    let version = kith::db::schema::latest();
    assert!(
        stdout.contains(&format!("schema version {version}")),
        "{stdout}"
    );
    assert!(stdout.contains("kith-backup.db"), "{stdout}");
    let during = acked.lock().expect("acked").len();

    // Everything acknowledged before it began is in it, and it is one
    // consistent commit: every counter agrees with the rows it counts.
    let in_backup = post_bodies(&backup);
    for body in &before {
        assert!(in_backup.contains(body), "{body} missing from the backup");
    }
    let conn = open_ro(&backup);
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert_eq!(
        count(
            "SELECT count(*) FROM posts p
             WHERE like_count != (SELECT count(*) FROM likes WHERE post_id = p.id)"
        ),
        0
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM users u
             WHERE post_count != (SELECT count(*) FROM posts WHERE author_id = u.id)"
        ),
        0
    );
    assert_eq!(count("PRAGMA user_version"), version);
    drop(conn);

    stop.store(true, Ordering::Relaxed);
    for w in writers {
        within(w).await.expect("writer");
    }
    let acked = acked.lock().expect("acked").clone();
    assert!(acked.len() >= during);

    // Writes stopped: a fresh backup, over the first, has exactly the
    // source's data.
    let out = kith(&[p("backup"), &backup, p("--data-dir"), &source]).await;
    assert_refused(&out, &["already exists", "--force"]);
    let out = kith(&[p("backup"), &backup, p("--force"), p("--data-dir"), &source]).await;
    assert_ok(&out);
    let source_dump = dump(&source.join("kith.db"));
    assert_eq!(dump(&backup), source_dump);

    // Restored into a new data directory: the same data, served.
    let restored = dir.path().join("restored");
    let out = kith(&[p("restore"), &backup, p("--data-dir"), &restored]).await;
    let stdout = assert_ok(&out);
    assert!(stdout.contains("restored"), "{stdout}");
    assert_eq!(dump(&restored.join("kith.db")), source_dump);

    server.stop().await;
    let server = Server::start(&restored, &[], &[]).await;
    let mut posts: HashMap<&str, i64> = HashMap::new();
    for (name, _) in &acked {
        *posts.entry(*name).or_default() += 1;
    }
    for name in names {
        let c = server.login(name).await;
        let (status, profile) = c.get(&format!("/api/users/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{profile}");
        assert_eq!(profile["post_count"], posts[name], "{name}");
    }
    let (status, v) = server
        .login("ann")
        .await
        .post(
            "/api/posts",
            json!({"body": "after the restore", "visibility": "public"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    server.stop().await;
}

#[tokio::test]
async fn a_restore_refuses_a_live_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let db = data.join("kith.db");
    let server = Server::start(&data, &[], &[]).await;
    let ann = server.signup("ann").await;
    ann.new_post("in the backup", "public").await;
    let backup = dir.path().join("backup.db");
    assert_ok(&kith(&[p("backup"), &backup, p("--data-dir"), &data]).await);
    ann.new_post("after the backup", "public").await;

    let live = dump(&db);
    // The server on that data directory holds its lock.
    let out = kith(&[p("restore"), &backup, p("--data-dir"), &data]).await;
    assert_refused(&out, &["live", "running", "stop it"]);
    // Named through another data directory: SQLite's lock still tells.
    let elsewhere = dir.path().join("elsewhere");
    let out = kith(&[
        p("restore"),
        &backup,
        p("--data-dir"),
        &elsewhere,
        p("--db"),
        &db,
    ])
    .await;
    assert_refused(&out, &["in use"]);

    // Untouched, and still serving.
    assert_eq!(dump(&db), live);
    ann.new_post("still writing", "public").await;
    server.stop().await;

    let out = kith(&[p("restore"), &backup, p("--data-dir"), &data]).await;
    assert_ok(&out);
    let bodies = post_bodies(&db);
    assert!(bodies.contains("in the backup"));
    assert!(!bodies.contains("after the backup"));
    assert!(!bodies.contains("still writing"));
    for companion in ["kith.db-wal", "kith.db-shm", "kith.db-journal"] {
        assert!(!data.join(companion).exists(), "{companion} left behind");
    }
    let server = Server::start(&data, &[], &[]).await;
    let (status, _) = server.login("ann").await.get("/api/me").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn bad_paths_and_files_get_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let data = d.join("data");
    assert_ok(&kith(&[p("migrate"), p("--data-dir"), &data]).await);
    let backup = |dest: &Path| {
        let data = data.clone();
        let dest = dest.to_owned();
        async move { kith(&[p("backup"), &dest, p("--data-dir"), &data]).await }
    };

    let good = d.join("good.db");
    let stdout = assert_ok(&backup(&good).await);
    let bytes = std::fs::metadata(&good).expect("written").len();
    assert!(stdout.contains(&format!("{bytes} bytes")), "{stdout}");

    let precious = d.join("precious.db");
    std::fs::write(&precious, "not to be lost").expect("write");
    assert_refused(&backup(&precious).await, &["already exists", "--force"]);
    assert_eq!(std::fs::read(&precious).expect("read"), b"not to be lost");
    let out = kith(&[p("backup"), &precious, p("--force"), p("--data-dir"), &data]).await;
    assert_ok(&out);
    assert!(
        std::fs::read(&precious)
            .expect("read")
            .starts_with(b"SQLite format 3\0")
    );

    assert_refused(&backup(d).await, &["is a directory"]);
    assert_refused(
        &backup(&d.join("no/such/dir/x.db")).await,
        &["does not exist"],
    );
    assert_refused(
        &backup(&precious.join("x.db")).await,
        &["is not a directory"],
    );
    let empty = d.join("empty");
    let out = kith(&[p("backup"), &d.join("x.db"), p("--data-dir"), &empty]).await;
    assert_refused(&out, &["no database at"]);
    assert!(!empty.join("kith.db").exists(), "not created");

    let target = d.join("target");
    let restore = |from: PathBuf| {
        let target = target.clone();
        async move { kith(&[p("restore"), &from, p("--data-dir"), &target]).await }
    };
    assert_refused(&restore(d.join("nothing.db")).await, &["does not exist"]);
    let garbage = d.join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).expect("write");
    assert_refused(&restore(garbage).await, &["not a kith database"]);
    let other = d.join("other.db");
    Connection::open(&other)
        .and_then(|c| c.execute_batch("CREATE TABLE notes (body TEXT)"))
        .expect("another database");
    assert_refused(&restore(other).await, &["not a kith database"]);
    assert!(!target.join("kith.db").exists(), "nothing restored");
    assert_ok(&restore(good).await);
}

/// The backup files in `dir`, oldest first.
fn backups_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("kith-") && n.ends_with("Z.db"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn periodic_backups_keep_the_newest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    let env = [
        ("KITH_BACKUP_EVERY", "1s"),
        ("KITH_BACKUP_KEEP", "2"),
        ("KITH_BACKUP_DIR", backups.to_str().expect("utf-8")),
    ];
    let server = Server::start(&data, &[], &env).await;
    server.signup("ann").await;

    // A few periods: more than two backups taken, two kept.
    let mut seen = std::collections::BTreeSet::new();
    let rotated = tokio::time::timeout(TIMEOUT, async {
        loop {
            let now = backups_in(&backups);
            seen.extend(now.iter().cloned());
            if seen.len() >= 4 && now.len() == 2 {
                return;
            }
            assert!(now.len() <= 3, "not rotated: {now:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(rotated.is_ok(), "seen {seen:?}\n{}", server.log());
    server.stop().await;

    let left = backups_in(&backups);
    assert_eq!(left.len(), 2, "{left:?}");
    let leftovers: Vec<_> = std::fs::read_dir(&backups)
        .expect("list")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !left.contains(n))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for name in &left {
        let conn = open_ro(&backups.join(name));
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .expect("check");
        assert_eq!(check, "ok");
        let users: i64 = conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .expect("users");
        assert_eq!(users, 1, "{name}");
    }
}
