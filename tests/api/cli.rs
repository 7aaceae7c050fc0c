//! The `kith` binary itself: `migrate`, `serve` configured through `KITH_*`
//! variables, and graceful shutdown on SIGTERM and SIGINT.

use std::process::{Command, Stdio};

use crate::helpers::{TIMEOUT, until_healthy};
use crate::net::free_port;

const KITH: &str = env!("CARGO_BIN_EXE_kith");

#[test]
fn migrate_applies_the_schema_and_exits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("nested").join("k.db");
    let out = Command::new(KITH)
        .args(["migrate", "--db"])
        .arg(&db)
        .output()
        .expect("run kith migrate");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let latest = kith::db::schema::latest();
    assert!(
        stdout.contains(&format!("schema at version {latest}")),
        "{stdout}"
    );
    // Twice is fine: the steps already applied are skipped.
    let again = Command::new(KITH)
        .args(["migrate", "--db"])
        .arg(&db)
        .output()
        .expect("run kith migrate again");
    assert!(again.status.success(), "{again:?}");
    let version = Command::new("sqlite3")
        .arg(&db)
        .arg("PRAGMA user_version; SELECT count(*) FROM sqlite_master WHERE name = 'posts_fts';")
        .output()
        .expect("sqlite3 CLI (scripts/test.sh installs it)");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("{latest}\n1\n")
    );
}

/// Starts `kith` (no subcommand: serve is the default) configured only by
/// environment variables, writes through it, stops it with `signal`, and
/// checks that it exits cleanly with the write on disk.
async fn serve_then_signal(signal: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(KITH)
        .env("KITH_LISTEN", format!("127.0.0.1:{port}"))
        .env("KITH_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn kith");
    until_healthy(&base, &mut child)
        .await
        .expect("kith comes up");
    assert!(dir.path().join("kith.db").exists());
    assert!(dir.path().join("media").is_dir());

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(TIMEOUT)
        .build()
        .expect("client");
    let r = client
        .post(format!("{base}/api/auth/signup"))
        .json(&serde_json::json!({"username": "sigtest", "password": "long enough"}))
        .send()
        .await
        .expect("signup");
    assert_eq!(r.status(), 201);

    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .expect("kith did not exit after the signal")
        .expect("wait");
    assert!(status.success(), "exit status {status:?}");

    let out = Command::new("sqlite3")
        .arg(dir.path().join("kith.db"))
        .arg("SELECT username FROM users;")
        .output()
        .expect("sqlite3 CLI");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sigtest\n");
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    serve_then_signal("-TERM").await;
}

#[tokio::test]
async fn sigint_shuts_down_gracefully() {
    serve_then_signal("-INT").await;
}

/// With every log level on, the log names requests by id and never holds a
/// password, a session cookie or a realtime ticket.
#[tokio::test]
async fn logs_carry_request_ids_and_no_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("kith.log");
    let mut child = tokio::process::Command::new(KITH)
        .env("KITH_LISTEN", format!("127.0.0.1:{port}"))
        .env("KITH_DATA_DIR", dir.path().join("data"))
        .env("RUST_LOG", "trace")
        .stdout(std::fs::File::create(&log).expect("log file"))
        .stderr(std::fs::File::create(dir.path().join("kith.err")).expect("err file"))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn kith");
    until_healthy(&base, &mut child)
        .await
        .expect("kith comes up");

    let password = "correct horse battery staple 7";
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("client");
    let r = client
        .post(format!("{base}/api/auth/signup"))
        .header("x-request-id", "log-test-signup")
        .json(&serde_json::json!({"username": "logtest", "password": password}))
        .send()
        .await
        .expect("signup");
    assert_eq!(r.status(), 201);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("kith="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string();
    // A wrong password too: failures must not be logged with the attempt.
    let wrong = "wrong password for the log test";
    let r = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": "logtest", "password": wrong}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 401);
    let r = client
        .post(format!("{base}/api/realtime/ticket"))
        .header("cookie", format!("kith={cookie}"))
        .header("x-request-id", "log-test-ticket")
        .send()
        .await
        .expect("ticket");
    assert!(r.status().is_success(), "{}", r.status());
    let v: serde_json::Value = r.json().await.expect("ticket json");
    let ticket = v["ticket"].as_str().expect("ticket").to_string();
    // A ticket in a query string stays out of the log as well.
    let r = client
        .get(format!("{base}/api/me?ticket={ticket}"))
        .header("cookie", format!("kith={cookie}"))
        .header("x-request-id", "log-test-me")
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), 200);

    let pid = child.id().expect("pid").to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .expect("kith did not exit")
        .expect("wait");
    let text = std::fs::read_to_string(&log).expect("log")
        + &std::fs::read_to_string(dir.path().join("kith.err")).expect("err log");
    for id in ["log-test-signup", "log-test-ticket", "log-test-me"] {
        assert!(text.contains(id), "request id {id} not in the log");
    }
    for (what, secret) in [
        ("password", password),
        ("wrong password", wrong),
        ("session cookie", cookie.as_str()),
        ("ticket", ticket.as_str()),
    ] {
        assert!(!text.contains(secret), "the log holds the {what}");
    }
}
