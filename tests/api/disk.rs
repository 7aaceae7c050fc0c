//! A full disk: the data directory on a small tmpfs the test mounts.
//! Writes fail with a clear 503 (an error frame on sockets), uploads with
//! 507 and no partial file, never a 500; reads go on; the database stays
//! whole; and writes work again by themselves once space is freed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::helpers::{Person, TIMEOUT, direct, signup_with_cookie, spawn_on};
use crate::ws::Ws;

/// A tmpfs of `mib` MiB mounted for the test; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> SmallDisk {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the disk at `dir` with a file, up to the last byte.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    // The last partial chunk, byte by byte in larger steps.
    for size in [4096, 512, 1] {
        while f.write_all(&chunk[..size]).is_ok() {}
    }
    let _ = f.flush();
    path
}

/// Every file below `dir`, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_full_disk_refuses_writes_clearly_keeps_reads_and_recovers() {
    let disk = SmallDisk::mount(24);
    let app = spawn_on(disk.path()).await;
    let (alice, cookie) = signup_with_cookie(&app, "alice").await;
    let bob = app.user("bob").await;
    alice.befriend(&bob, "bob").await;
    let conv = direct(&alice, "bob").await;
    let first = alice.new_post("before the disk filled", "public").await;
    let me = Person {
        name: "alice".into(),
        http: alice.clone(),
        cookie,
    };
    let mut ws = Ws::open(&app, &me).await;

    let filler = fill(&disk.path());
    // The WAL may still hold room for a few pages: write until refused.
    let big = "x".repeat(9_000);
    let mut refused = None;
    for i in 0..400 {
        let (s, v) = alice
            .post("/api/posts", json!({"body": format!("{i} {big}")}))
            .await;
        assert!(s.as_u16() < 500 || s.as_u16() == 503, "{s}: {v}");
        if s.as_u16() == 503 {
            refused = Some(v);
            break;
        }
    }
    let v = refused.expect("a full disk refused a write");
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("disk is full"), "{v}");

    // On a socket: an error frame, and the connection stays.
    ws.send(
        json!({"type": "send", "conversation_id": conv, "client_msg_id": "full-1", "body": "x".repeat(3_000)}),
    )
    .await;
    let e = ws.next_of("error").await;
    assert_eq!(e["code"], "unavailable", "{e}");
    ws.send(json!({"type": "ping"})).await;
    ws.next_of("pong").await;

    // An upload: refused, and nothing of it left on the disk.
    let photo = crate::images::noisy_jpeg(1600, 1200, 7);
    assert!(photo.len() > 64 * 1024, "bigger than what is left");
    let before = files_under(&disk.path().join("media"));
    let (s, v) = alice
        .upload("/api/media", "a.jpg", "image/jpeg", &photo)
        .await;
    assert!(
        s.as_u16() == 503 || s.as_u16() == 507,
        "an upload to a full disk: {s} {v}"
    );
    assert_eq!(
        files_under(&disk.path().join("media")),
        before,
        "no partial file"
    );

    // Reads go on.
    let (s, p) = alice.get(&format!("/api/posts/{first}")).await;
    assert_eq!(s, 200, "{p}");
    let (s, _) = alice.get("/api/feed").await;
    assert_eq!(s, 200);

    // Space freed: writes work again, without a restart.
    std::fs::remove_file(&filler).expect("free the space");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let (s, v) = alice.post("/api/posts", json!({"body": "after"})).await;
        if s == 201 {
            break;
        }
        assert!(s.as_u16() == 503, "{s}: {v}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes never came back: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&app.state.read)
        .await
        .expect("integrity_check");
    assert_eq!(ok, "ok");
    drop(app);
}
