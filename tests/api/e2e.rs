//! The web client end to end: `e2e/run.mjs` drives Debian's Chromium
//! (through playwright-core) against a real server, as two users who sign up,
//! become friends, post, like, comment, chat over WebTransport and WebSocket,
//! and upload a video that is transcoded and played; then settings, a new
//! password signing another browser out, a report resolved by an admin
//! (made with the CLI) with a ban. Screenshots go to
//! `target/e2e-screenshots`.
//!
//! Needs `node`, `/usr/bin/chromium` and `e2e/node_modules` (scripts/test.sh
//! installs them); without them the test fails, saying so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::{spawn_app, spawn_with};

/// The bound on the whole browser run (the script bounds itself at 7 min).
const RUN_LIMIT: Duration = Duration::from_secs(540);

/// The browser the script drives: `$CHROMIUM`, or Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Fails (never skips) when something the browser run needs is missing.
async fn check_prerequisites(root: &Path) {
    let mut missing = Vec::new();
    let node = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await;
    if !node.is_ok_and(|o| o.status.success()) {
        missing.push("node (Debian's nodejs)".to_string());
    }
    let browser = chromium();
    if !browser.is_file() {
        missing.push(format!("{} (Debian's chromium)", browser.display()));
    }
    if !root.join("e2e/node_modules/playwright-core").is_dir() {
        missing.push("e2e/node_modules/playwright-core (npm ci --prefix e2e)".to_string());
    }
    assert!(
        missing.is_empty(),
        "the browser test needs {}: run scripts/test.sh, which installs them",
        missing.join(", ")
    );
}

/// The line read, or `None` (marking the stream ended) at its end or an error.
fn line_or_end(read: std::io::Result<Option<String>>, open: &mut bool) -> Option<String> {
    let line = read.ok().flatten();
    *open = line.is_some();
    line
}

/// Runs a browser script (`cmd`, its output piped), printing each line as
/// it comes with `prefix` (seen with --nocapture, or under the failure);
/// fails the test when it exceeds `limit`, exits non-zero or does not say
/// it passed. `what` names it in the failure ("the browser run").
async fn run_browser(
    mut cmd: Command,
    what: &str,
    prefix: &str,
    limit: Duration,
    screenshots: &Path,
) {
    let mut child = cmd
        .env("CHROMIUM", chromium())
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();

    let mut transcript = String::new();
    let run = async {
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            let line = tokio::select! {
                l = out.next_line(), if out_open => line_or_end(l, &mut out_open),
                l = err.next_line(), if err_open => line_or_end(l, &mut err_open),
            };
            if let Some(line) = line {
                println!("{prefix}| {line}");
                transcript.push_str(&line);
                transcript.push('\n');
            }
        }
        child.wait().await
    };
    let outcome = tokio::time::timeout(limit, run).await;
    // The script's verdict: its lines that start with "e2e:" (the whole
    // output is printed above, line by line).
    let verdict: String = transcript
        .lines()
        .skip_while(|l| !l.starts_with("e2e:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let status = match outcome {
        Ok(status) => status.expect("waiting for node"),
        Err(_) => {
            let _ = child.kill().await;
            panic!(
                "{what} took over {} s (its output is above)\n{verdict}",
                limit.as_secs()
            );
        }
    };
    assert!(
        status.success(),
        "{what} failed ({status}); screenshots in {} (its output is above)\n{verdict}",
        screenshots.display()
    );
    assert!(
        transcript.contains("PASSED"),
        "{what} exited 0 without passing; its output:\n{transcript}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_works_end_to_end_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    check_prerequisites(root).await;

    let app = spawn_app().await;
    let clips = tempfile::tempdir().expect("temp dir");
    let clip = clips.path().join("clip.mp4");
    crate::clip::make_clip(&clip, 320, 240, 2, true).await;
    // Three photos of about 1 MB each: long enough to upload on a slowed
    // link that the test can cut the network half-way.
    let photos: Vec<String> = (0..3u64)
        .map(|i| {
            let path = clips.path().join(format!("photo{i}.jpg"));
            std::fs::write(&path, crate::images::noisy_jpeg(1000, 750, 17 + i))
                .expect("photo written");
            path.display().to_string()
        })
        .collect();
    let screenshots = root.join("target/e2e-screenshots");

    let mut cmd = Command::new("node");
    cmd.arg("e2e/run.mjs")
        .current_dir(root)
        .env("KITH_URL", app.url(""))
        .env("SCREENSHOTS", &screenshots)
        .env("CLIP", &clip)
        .env("PHOTOS", photos.join(","))
        // For making an admin with the CLI (`kith admin user make-admin`).
        .env("KITH_BIN", env!("CARGO_BIN_EXE_kith"))
        .env("KITH_DB", &app.state.config.db);
    run_browser(cmd, "the browser run", "e2e", RUN_LIMIT, &screenshots).await;
    drop(app);
}

/// The bound on the everyday browser run (the script bounds itself at 8 min).
const EVERYDAY_LIMIT: Duration = Duration::from_secs(560);

/// The web client as an everyday app: `e2e/everyday.mjs` runs the step
/// modules of `e2e/everyday/` (every page accessible and fitting from 320 px
/// up, destructive actions asking first, chat, content, the connection and
/// routing) against a real server. Screenshots go to
/// `target/e2e-screenshots/everyday`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyday_e2e() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    check_prerequisites(root).await;
    assert!(
        root.join("e2e/node_modules/axe-core").is_dir(),
        "the everyday browser test needs e2e/node_modules/axe-core (npm ci --prefix e2e): run scripts/test.sh, which installs it"
    );

    // Link cards are read from a page the run serves on loopback.
    let app = spawn_with(|c| c.links_allow_private = true).await;
    let screenshots = root.join("target/e2e-screenshots/everyday");

    let mut cmd = Command::new("node");
    cmd.arg("e2e/everyday.mjs")
        .current_dir(root)
        .env("KITH_URL", app.url(""))
        .env("SCREENSHOTS", &screenshots)
        // For making an admin with the CLI (`kith admin user make-admin`).
        .env("KITH_BIN", env!("CARGO_BIN_EXE_kith"))
        .env("KITH_DB", &app.state.config.db)
        .env_remove("EVERYDAY_ONLY");
    run_browser(
        cmd,
        "the everyday browser run",
        "everyday",
        EVERYDAY_LIMIT,
        &screenshots,
    )
    .await;
    drop(app);
}
