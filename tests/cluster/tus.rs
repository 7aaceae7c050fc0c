//! Resumable uploads with tuspy (the tus project's Python client, from
//! PyPI) against real kith processes: an upload whose node is killed
//! (SIGKILL) half-way resumes after a restart, and through another node,
//! and ends byte-identical.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::harness::*;
use crate::images::noisy_jpeg;
use crate::wait::{TIMEOUT, eventually, within_for};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tus/tuspy_upload.py");
/// 128 KiB a chunk, a chunk every 50 ms: ~2.5 MB/s, so a 6 MB upload is
/// under way for two seconds or more, long enough to be killed in.
const CHUNK: &str = "131072";
const PACE: &str = "0.05";

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The offset `node` reports for the upload at `path`, if it answers.
async fn offset(node: &Node, user: &User, path: &str) -> Option<u64> {
    let res = reqwest::Client::new()
        .head(node.url(path))
        .header("cookie", &user.cookie)
        .header("tus-resumable", "1.0.0")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    res.headers()
        .get("upload-offset")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Starts tuspy on `node`; returns the upload's path (`/api/uploads/…`)
/// once it is under way, and the running client.
async fn start(node: &Node, user: &User, file: &Path) -> (String, tokio::process::Child) {
    let mut child = tokio::process::Command::new("python3")
        .arg(SCRIPT)
        .args(["start", &node.url("/api/uploads"), &user.cookie])
        .arg(file)
        .args([CHUNK, PACE])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs (scripts/test.sh installs tuspy)");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stdout).lines();
    let url = within_for("tuspy prints its upload URL", async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(url) = line.strip_prefix("URL ") {
                return url.to_string();
            }
        }
        let mut err = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err).await;
        let log = node.log();
        let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
        panic!(
            "tuspy exited without an upload URL: {err}\n{} log (last lines first):\n{tail}",
            node.name
        );
    })
    .await;
    // Keep reading, so the client never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let path = format!("/api/uploads/{}", url.rsplit('/').next().expect("id"));
    (path, child)
}

/// Resumes the upload at `path` through `node` with tuspy; returns its
/// output.
async fn resume(node: &Node, user: &User, path: &str, file: &Path) -> String {
    let out = within_for(
        "tuspy resumes",
        tokio::process::Command::new("python3")
            .arg(SCRIPT)
            .args(["resume", &node.url(path), &user.cookie])
            .arg(file)
            .arg(CHUNK)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tuspy resume failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Waits until the upload on `node` is past half of `len`, then SIGKILLs
/// `node`; returns the offset seen before the kill.
async fn kill_halfway(node: &mut Node, user: &User, path: &str, len: u64) -> u64 {
    let at = eventually("the upload passes half-way", TIMEOUT, || async {
        offset(node, user, path).await.filter(|o| *o >= len / 2)
    })
    .await;
    node.kill().await;
    at
}

#[tokio::test]
async fn a_tuspy_upload_killed_half_way_resumes_after_a_restart_and_on_another_node() {
    let mut cluster = spawn_cluster_with(
        2,
        Options {
            workers: vec![1, 1],
            ..Options::default()
        },
    )
    .await;
    let alice = signup(&cluster.nodes[0], "alice").await;
    let mut data = noisy_jpeg(1600, 1200, 3);
    data.resize(6 * 1024 * 1024, 0);
    let len = data.len() as u64;
    let file = cluster.dir.path().join("photo.jpg");
    std::fs::write(&file, &data).expect("write");

    // 1. Begun on node1, node1 killed half-way, finished through node0.
    let (path, mut client) = start(&cluster.nodes[1], &alice, &file).await;
    kill_halfway(&mut cluster.nodes[1], &alice, &path, len).await;
    let _ = within_for("tuspy stops", client.wait()).await;
    let n0 = &cluster.nodes[0];
    let stored = offset(n0, &alice, &path)
        .await
        .expect("node0 knows the upload");
    assert!(stored >= len / 2 && stored < len, "{stored} of {len}");
    let out = resume(n0, &alice, &path, &file).await;
    assert!(out.contains(&format!("RESUMING {stored}")), "{out}");
    let id = path.rsplit('/').next().expect("id");
    let v = ready_on(n0, &alice, id, Duration::from_secs(120)).await;
    assert_eq!(v["sha256"], sha256_hex(&data), "{v}");
    let (status, _) = alice.get(n0, &format!("/api/media/{id}")).await;
    assert_eq!(status, StatusCode::OK);

    // 2. Killed half-way; the same node restarted; resumed there.
    let (path, mut client) = start(&cluster.nodes[0], &alice, &file).await;
    let killed_at = kill_halfway(&mut cluster.nodes[0], &alice, &path, len).await;
    let _ = within_for("tuspy stops", client.wait()).await;
    cluster.nodes[0].restart().await;
    let n0 = &cluster.nodes[0];
    let stored = offset(n0, &alice, &path)
        .await
        .expect("an offset after restart");
    assert!(
        stored >= killed_at && stored < len,
        "{stored} of {len}, {killed_at} seen"
    );
    let out = resume(n0, &alice, &path, &file).await;
    assert!(out.contains(&format!("RESUMING {stored}")), "{out}");
    assert!(out.contains(&format!("DONE {len}")), "{out}");
    let id = path.rsplit('/').next().expect("id");
    let v = ready_on(n0, &alice, id, Duration::from_secs(120)).await;
    assert_eq!(v["sha256"], sha256_hex(&data), "{v}");
    assert_eq!(v["size_bytes"], len);
}
