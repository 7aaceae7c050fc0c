//! Crash safety: a write the server answered with 2xx survives `kill -9`.
//! The real binary serves eight users writing as fast as they can; it is
//! killed mid-stream, restarted on the same data dir, and every
//! acknowledged post and like must be there, in a database that passes
//! `PRAGMA integrity_check`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TIMEOUT, password_of, until_healthy};

const KITH: &str = env!("CARGO_BIN_EXE_kith");
const USERS: usize = 8;
/// How many kill-restart rounds one run goes through.
const ROUNDS: usize = 3;
/// Writing lasts at least this long before the kill...
const WRITE_FOR: Duration = Duration::from_millis(1500);
/// ...and until at least this many posts were acknowledged, so a slow
/// machine cannot make the test pass on nothing.
const MIN_ACKED: usize = 40;

struct Server {
    base: String,
    child: tokio::process::Child,
}

impl Server {
    async fn start(data_dir: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = tokio::process::Command::new(KITH)
            .env("KITH_LISTEN", format!("127.0.0.1:{port}"))
            .env("KITH_DATA_DIR", data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn kith");
        let server = Server {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        let mut server = server;
        until_healthy(&server.base, &mut server.child)
            .await
            .expect("kith comes up");
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `kill -KILL`: no shutdown code runs.
    async fn kill_9(mut self) {
        let pid = self.child.id().expect("pid").to_string();
        let killed = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        tokio::time::timeout(TIMEOUT, self.child.wait())
            .await
            .expect("kith did not die")
            .expect("wait");
    }
}

/// A user's session cookie, sent by hand so that it outlives the client
/// (and the server process) it was issued through.
struct Writer {
    name: String,
    cookie: String,
}

/// A fresh client (no pooled connections to a dead server).
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("client")
}

async fn sign_up(server: &Server, name: &str) -> Writer {
    let res = http()
        .post(server.url("/api/auth/signup"))
        .json(&json!({"username": name, "password": password_of(name)}))
        .send()
        .await
        .expect("signup");
    assert_eq!(res.status(), StatusCode::CREATED);
    Writer {
        name: name.into(),
        cookie: crate::session::session_cookie(res.headers()).expect("session cookie"),
    }
}

/// What the server acknowledged: (post id, body, liked).
type Acked = Vec<(String, String, bool)>;

/// When the writers stop, and how many posts they have had acknowledged.
#[derive(Default)]
struct Progress {
    stop: AtomicBool,
    acked: AtomicUsize,
}

/// Posts and likes as `w` until told to stop, or until the server goes
/// away; returns what was acknowledged.
async fn write_loop(base: String, w: Arc<Writer>, round: usize, progress: Arc<Progress>) -> Acked {
    let http = http();
    let mut acked = Acked::new();
    let mut i = 0;
    while !progress.stop.load(Ordering::Relaxed) {
        let body = format!("{} round {round} post {i}", w.name);
        i += 1;
        let res = http
            .post(format!("{base}/api/posts"))
            .header("cookie", &w.cookie)
            .json(&json!({"body": body, "visibility": "public"}))
            .send()
            .await;
        let Ok(res) = res else { break };
        if !res.status().is_success() {
            break;
        }
        let Ok(v) = res.json::<Value>().await else {
            break;
        };
        let id = v["post"]["id"].as_str().expect("post id").to_string();
        acked.push((id.clone(), body, false));
        progress.acked.fetch_add(1, Ordering::Relaxed);
        // Every other post is liked as well: a second table, a counter.
        if i % 2 == 0 {
            let res = http
                .put(format!("{base}/api/posts/{id}/like"))
                .header("cookie", &w.cookie)
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    if let Some(last) = acked.last_mut() {
                        last.2 = true;
                    }
                }
                _ => break,
            }
        }
    }
    acked
}

/// Every acknowledged post is readable with its body, and liked if the
/// like was acknowledged.
async fn assert_all_present(server: &Server, writers: &[Arc<Writer>], acked: &[Acked]) {
    let http = http();
    for (w, posts) in writers.iter().zip(acked) {
        for (id, body, liked) in posts {
            let res = http
                .get(server.url(&format!("/api/posts/{id}")))
                .header("cookie", &w.cookie)
                .send()
                .await
                .expect("get post");
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "acknowledged post {id} of {} lost",
                w.name
            );
            let v: Value = res.json().await.expect("post json");
            assert_eq!(v["post"]["body"], body.as_str(), "{v}");
            if *liked {
                assert_eq!(
                    v["post"]["liked_by_me"], true,
                    "acknowledged like lost: {v}"
                );
                assert!(v["post"]["like_count"].as_i64() >= Some(1), "{v}");
            }
        }
    }
}

fn integrity_check(db: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database read-only");
    let result: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(result, "ok");
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start(dir.path()).await;
    let mut writers = Vec::new();
    for u in 0..USERS {
        writers.push(Arc::new(sign_up(&server, &format!("writer{u}")).await));
    }
    // Everything acknowledged so far, per writer, across rounds.
    let mut all: Vec<Acked> = vec![Acked::new(); USERS];

    for round in 0..ROUNDS {
        let progress = Arc::new(Progress::default());
        let tasks: Vec<_> = writers
            .iter()
            .map(|w| {
                tokio::spawn(write_loop(
                    server.base.clone(),
                    w.clone(),
                    round,
                    progress.clone(),
                ))
            })
            .collect();
        // Let the writers run, then kill the server under them.
        let started = Instant::now();
        let writing = async {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let n = progress.acked.load(Ordering::Relaxed);
                if started.elapsed() >= WRITE_FOR && n >= MIN_ACKED {
                    break;
                }
            }
        };
        tokio::time::timeout(TIMEOUT, writing)
            .await
            .expect("too few writes acknowledged in time");
        server.kill_9().await;
        // Writes in flight failed; the loops end on their own.
        progress.stop.store(true, Ordering::Relaxed);
        let mut acked_now = 0;
        for (t, all) in tasks.into_iter().zip(&mut all) {
            let acked = tokio::time::timeout(TIMEOUT, t)
                .await
                .expect("a writer did not stop")
                .expect("writer task");
            acked_now += acked.len();
            all.extend(acked);
        }
        assert!(
            acked_now >= MIN_ACKED,
            "round {round}: only {acked_now} posts acknowledged"
        );

        server = Server::start(dir.path()).await;
        assert_all_present(&server, &writers, &all).await;
        integrity_check(&dir.path().join("kith.db"));
    }
    server.kill_9().await;
}
