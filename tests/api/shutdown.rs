//! Graceful shutdown of the real binary on SIGTERM: sockets get a close
//! frame telling clients to reconnect (WebSocket 1012, and the same code
//! on WebTransport), new connections are refused while a request in
//! flight still completes, every acknowledged write is on disk, and the
//! process exits 0. (Jobs given back at shutdown: tests/cluster/shutdown.rs.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TIMEOUT, until_healthy};
use crate::net::free_port;
use crate::ws::Ws;
use crate::wt::Wt;

const KITH: &str = env!("CARGO_BIN_EXE_kith");
/// The close code and reason of every realtime connection at shutdown.
const RESTART_CODE: u16 = 1012;
const RESTART_REASON: &str = "server restarting; reconnect";

/// `kith` as a child process on a data dir of its own.
struct Server {
    dir: tempfile::TempDir,
    port: u16,
    child: tokio::process::Child,
}

impl Server {
    /// Starts kith without abuse limits (these tests write as fast as they
    /// can from one address); WebTransport only when `webtransport`.
    async fn start(webtransport: bool) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("kith.log")).expect("log file");
        let mut cmd = tokio::process::Command::new(KITH);
        cmd.env("KITH_LISTEN", format!("127.0.0.1:{port}"))
            .env("KITH_DATA_DIR", dir.path().join("data"))
            .env("KITH_NO_AUTH_LIMITS", "true")
            .env("KITH_WRITE_BURST", "0")
            .env("KITH_WORKERS", "0")
            .env("RUST_LOG", "info,kith=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true);
        if !webtransport {
            cmd.env("KITH_NO_WEBTRANSPORT", "true");
        }
        let mut server = Server {
            child: cmd.spawn().expect("spawn kith"),
            dir,
            port,
        };
        let base = server.url("");
        if let Err(why) = until_healthy(&base, &mut server.child).await {
            panic!("{why}: {}", server.log());
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("data").join("kith.db")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kith.log")).unwrap_or_default()
    }

    fn sigterm(&self) {
        let pid = self.child.id().expect("pid").to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for the process to exit and checks that it exited 0.
    async fn exits_cleanly(&mut self) {
        let status = tokio::time::timeout(TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("kith did not exit in time: {}", self.log()))
            .expect("wait");
        assert!(status.success(), "exit status {status:?}: {}", self.log());
    }

    /// Signs `name` up; returns the session cookie (`kith=…`).
    async fn sign_up(&self, name: &str) -> String {
        let res = reqwest::Client::new()
            .post(self.url("/api/auth/signup"))
            .json(&json!({"username": name, "password": format!("password-{name}")}))
            .timeout(TIMEOUT)
            .send()
            .await
            .expect("signup");
        assert_eq!(res.status(), 201, "signup {name}");
        crate::session::session_cookie(res.headers()).expect("session cookie")
    }
}

fn read_only(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the database")
}

// ---- a: close frames -------------------------------------------------------

/// A live socket of the server's, its greeting read.
async fn open_ws(server: &Server, cookie: &str) -> Ws {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.port));
    let origin = format!("http://{addr}");
    let (mut ws, status) = Ws::connect(addr, Some(cookie), Some(&origin))
        .await
        .expect("WebSocket handshake");
    assert_eq!(status, 101);
    ws.next_of("hello").await;
    ws
}

/// A WebTransport session of the user behind `cookie`, greeted.
async fn open_wt(server: &Server, cookie: &str, user: &str) -> Wt {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("client");
    let get = |path: &str, post: bool| {
        let req = if post {
            http.post(server.url(path))
        } else {
            http.get(server.url(path))
        };
        req.header("cookie", cookie).send()
    };
    let cfg: Value = get("/api/realtime/config", false)
        .await
        .expect("config")
        .json()
        .await
        .expect("config json");
    let (url, hashes) = crate::wt::published(&cfg);
    let ticket: Value = get("/api/realtime/ticket", true)
        .await
        .expect("ticket")
        .json()
        .await
        .expect("ticket json");
    let ticket = ticket["ticket"].as_str().expect("ticket");
    let conn = crate::wt::connect(&url, ticket, &hashes, None)
        .await
        .expect("WebTransport session");
    Wt::over(conn, user).await
}

#[tokio::test]
async fn sigterm_closes_sockets_with_a_reconnect_frame() {
    let mut server = Server::start(true).await;
    let cookie = server.sign_up("alice").await;
    let mut ws = open_ws(&server, &cookie).await;
    let wt = open_wt(&server, &cookie, "alice").await;

    server.sigterm();
    let (code, reason) = ws.closed().await;
    assert_eq!(
        (code, reason.as_str()),
        (RESTART_CODE, RESTART_REASON),
        "{}",
        server.log()
    );
    let closed = tokio::time::timeout(TIMEOUT, wt.conn.closed())
        .await
        .expect("the WebTransport session was not closed in time");
    match closed {
        wtransport::error::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.code().into_inner(), u64::from(RESTART_CODE), "{c}");
            assert_eq!(c.reason(), RESTART_REASON.as_bytes(), "{c}");
        }
        other => panic!("WebTransport closed otherwise: {other}"),
    }
    server.exits_cleanly().await;
}

// ---- b: in-flight requests finish, new connections are refused -------------

/// Reads from `stream` until the end of a response head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(TIMEOUT, stream.read(&mut byte))
            .await
            .expect("no response head in time")
            .expect("read");
        assert!(n > 0, "connection closed in a response head: {buf:?}");
        buf.push(byte[0]);
    }
    String::from_utf8(buf).expect("UTF-8 head")
}

#[tokio::test]
async fn a_request_in_flight_completes_while_new_connections_are_refused() {
    let mut server = Server::start(false).await;
    let cookie = server.sign_up("slow").await;
    let body = json!({"body": "sent slowly across a shutdown", "visibility": "public"}).to_string();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);

    // A client that sends its body slowly. `Expect: 100-continue` tells us
    // when the handler has started reading the body: the request is then
    // in flight, not merely connected.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/posts HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {cookie}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\n\r\n",
        server.port,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    let interim = read_head(&mut stream).await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream.write_all(first).await.expect("write half the body");

    server.sigterm();
    // The listener closes: new connections are refused...
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match TcpStream::connect(("127.0.0.1", server.port)).await {
            // Refused, or reset while the closing listener drops what was
            // still waiting in its backlog: either way, not accepted.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                break;
            }
            Err(e) => panic!("connecting after SIGTERM: {e}"),
            // Accepted before the signal was handled.
            Ok(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "still accepting after SIGTERM: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...while the server waits for the request it is in the middle of.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.running(), "exited under a request in flight");
    stream.write_all(rest).await.expect("write the rest");

    let mut response = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut response))
        .await
        .expect("no response in time")
        .expect("read the response");
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "{response}\n{}",
        server.log()
    );
    // The connection closes after it (read_to_end saw its end), and says so.
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{response}"
    );
    server.exits_cleanly().await;
    let stored: i64 = read_only(&server.db())
        .query_row(
            "SELECT count(*) FROM posts WHERE body = 'sent slowly across a shutdown'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(stored, 1);
}

// ---- c: acknowledged writes survive, exit 0 ---------------------------------

const WRITERS: usize = 4;
/// Writing lasts at least this long before SIGTERM...
const WRITE_FOR: Duration = Duration::from_millis(1000);
/// ...and until at least this many posts were acknowledged.
const MIN_ACKED: usize = 40;

/// Posts as fast as it can until the server stops answering; returns the
/// bodies of the acknowledged posts.
async fn write_loop(
    base: String,
    cookie: String,
    n: usize,
    acked: Arc<AtomicUsize>,
) -> Vec<String> {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("client");
    let mut bodies = Vec::new();
    for i in 0.. {
        let body = format!("writer {n} post {i}");
        let res = http
            .post(format!("{base}/api/posts"))
            .header("cookie", &cookie)
            .json(&json!({"body": body, "visibility": "public"}))
            .send()
            .await;
        match res {
            Ok(r) if r.status() == 201 => {
                bodies.push(body);
                acked.fetch_add(1, Ordering::Relaxed);
            }
            _ => break,
        }
    }
    bodies
}

#[tokio::test]
async fn every_acknowledged_write_is_on_disk_after_a_clean_exit() {
    let mut server = Server::start(false).await;
    let acked = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for n in 0..WRITERS {
        let cookie = server.sign_up(&format!("writer{n}")).await;
        writers.push(tokio::spawn(write_loop(
            format!("http://127.0.0.1:{}", server.port),
            cookie,
            n,
            acked.clone(),
        )));
    }
    let started = Instant::now();
    while started.elapsed() < WRITE_FOR || acked.load(Ordering::Relaxed) < MIN_ACKED {
        assert!(started.elapsed() < TIMEOUT, "too few writes acknowledged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = acked.load(Ordering::Relaxed);
    server.sigterm();
    let stopping = Instant::now();
    server.exits_cleanly().await;
    eprintln!("exited {:?} after SIGTERM", stopping.elapsed());
    let mut bodies = Vec::new();
    for w in writers {
        bodies.extend(
            tokio::time::timeout(TIMEOUT, w)
                .await
                .expect("a writer hung")
                .expect("writer task"),
        );
    }
    assert!(bodies.len() >= before);

    let db = read_only(&server.db());
    let mut lookup = db
        .prepare("SELECT count(*) FROM posts WHERE body = ?")
        .expect("prepare");
    for body in &bodies {
        let n: i64 = lookup.query_row([body], |r| r.get(0)).expect("count");
        assert_eq!(n, 1, "acknowledged post {body:?} is not in the database");
    }
    let total: i64 = db
        .query_row("SELECT count(*) FROM posts", [], |r| r.get(0))
        .expect("count");
    // A post committed but not acknowledged (its response lost with the
    // connection) is allowed; one acknowledged but missing is not.
    assert!(total >= bodies.len() as i64);
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(ok, "ok");
}
