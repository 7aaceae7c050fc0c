//! The `kith` binary itself: `migrate`, `serve` configured through `KITH_*`
//! variables, and graceful shutdown on SIGTERM and SIGINT.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::TIMEOUT;

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
    assert!(stdout.contains("schema at version 5"), "{stdout}");
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
    assert_eq!(String::from_utf8_lossy(&version.stdout), "5\n1\n");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

async fn wait_healthy(base: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "kith did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    wait_healthy(&base).await;
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
