//! The job queue and the video pipeline: queue throughput with 1, 4 and 16
//! workers; API latency with and without a transcode running; transcode
//! speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use kith::db::Writer;
use kith::ids::Id;
use kith::store::jobs::{Claim, Enqueue, NewJob, Succeed};
use serde_json::{Value, json};

use crate::server::{Server, signed_up};
use crate::{Opts, ms};

const QUEUE_JOBS: u64 = 4000;
const CLIP_SECONDS: u32 = 20;

/// No-op jobs per second, enqueued by 16 producers while `workers` claim
/// and complete them.
pub async fn queue_rate(workers: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let conn = kith::db::open_writer_connection(&dir.path().join("kith.db"))?;
    let (writer, task) = Writer::start(conn);
    let enqueued = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..16u64 {
        let (writer, enqueued) = (writer.clone(), enqueued.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..QUEUE_JOBS / 16 {
                let job = NewJob {
                    id: Id::generate(),
                    kind: "noop".into(),
                    payload: "{}".into(),
                    priority: 0,
                    max_attempts: 3,
                    idempotency_key: Some(format!("bench-{p}-{i}")),
                    owner: None,
                };
                writer.run(Enqueue(job)).await?;
                enqueued.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for w in 0..workers {
        let (writer, done) = (writer.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let name = format!("bench-worker-{w}");
            while done.load(Ordering::Relaxed) < QUEUE_JOBS {
                let claim = Claim {
                    worker: name.clone(),
                    kinds: vec!["noop".into()],
                    lease_ms: 30_000,
                };
                match writer.run(claim).await? {
                    Some(job) => {
                        let ok = Succeed {
                            id: job.id,
                            worker: name.clone(),
                        };
                        writer.run(ok).await?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    None => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    writer.stop().await;
    task.await?;
    Ok(QUEUE_JOBS as f64 / secs)
}

fn make_clip(path: &std::path::Path) -> anyhow::Result<()> {
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!(
            "testsrc2=size=1920x1080:rate=30:duration={CLIP_SECONDS}"
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={CLIP_SECONDS}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-shortest"])
        .arg(path)
        .status()
        .context("running ffmpeg")?;
    anyhow::ensure!(ok.success(), "ffmpeg could not make the clip");
    Ok(())
}

/// Latency of `GET /api/feed` from `clients` loops over `dur`.
pub async fn load(
    base: &str,
    c: &reqwest::Client,
    clients: usize,
    dur: Duration,
) -> anyhow::Result<Histogram<u64>> {
    let end = Instant::now() + dur;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (c, url) = (c.clone(), format!("{base}/api/feed"));
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            while Instant::now() < end {
                let t = Instant::now();
                let r = c.get(&url).send().await?;
                anyhow::ensure!(r.status().is_success(), "feed: {}", r.status());
                r.bytes().await?;
                h.record(t.elapsed().as_micros() as u64)?;
            }
            anyhow::Ok(h)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for t in tasks {
        all.add(t.await??)?;
    }
    Ok(all)
}

/// Prints the API's figures idle and busy (`busy_label`) over `window`;
/// returns the p99 ratio, busy over idle.
pub fn api_table(
    idle: &Histogram<u64>,
    busy: &Histogram<u64>,
    window: Duration,
    busy_label: &str,
) -> f64 {
    println!("| API | req/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    let secs = window.as_secs_f64();
    for (label, h) in [("idle", idle), (busy_label, busy)] {
        println!(
            "| {label} | {:.0} | {} | {} |",
            h.len() as f64 / secs,
            ms(h, 0.5),
            ms(h, 0.99)
        );
    }
    busy.value_at_quantile(0.99) as f64 / idle.value_at_quantile(0.99).max(1) as f64
}

pub async fn media_status(c: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<Value> {
    Ok(c.get(format!("{base}/api/media/{id}"))
        .send()
        .await?
        .json()
        .await?)
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    println!("## Jobs: queue throughput\n");
    println!(
        "{QUEUE_JOBS} no-op jobs through kith's writer on a fresh file: 16 producers enqueue while N workers claim (`UPDATE … RETURNING`) and complete them; three writer commands per job.\n"
    );
    println!("| workers | jobs/s (enqueue + claim + complete) |");
    println!("|---|---|");
    for w in [1, 4, 16] {
        println!("| {w} | {:.0} |", queue_rate(w).await?);
    }
    println!();

    let dir = tempfile::tempdir()?;
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip)?;
    let server = Server::start(opts, &["--no-webtransport", "--workers", "1"]).await?;
    let base = server.base.clone();
    let c = signed_up(&base).await?;
    for i in 0..20 {
        c.post(format!("{base}/api/posts"))
            .json(&json!({"body": format!("post {i}")}))
            .send()
            .await?;
    }
    let clients = 8;
    let window = Duration::from_secs(5);
    let idle = load(&base, &c, clients, window).await?;

    let bytes = std::fs::read(&clip)?;
    let mut body = b"--kithbench\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.mp4\"\r\nContent-Type: video/mp4\r\n\r\n".to_vec();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(b"\r\n--kithbench--\r\n");
    let accepted = Instant::now();
    let r = c
        .post(format!("{base}/api/media"))
        .header("content-type", "multipart/form-data; boundary=kithbench")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 202, "upload: {}", r.status());
    let id = r.json::<Value>().await?["id"]
        .as_str()
        .context("media id")?
        .to_string();
    // Measure while the transcode runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while media_status(&c, &base, &id).await?["status"] != "processing" {
        anyhow::ensure!(Instant::now() < deadline, "the transcode did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let busy = load(&base, &c, clients, window).await?;
    let still = media_status(&c, &base, &id).await?["status"] == "processing";
    let deadline = Instant::now() + Duration::from_secs(600);
    let took = loop {
        let s = media_status(&c, &base, &id).await?;
        match s["status"].as_str() {
            Some("ready") => break accepted.elapsed(),
            Some("failed") => bail!("transcode failed: {s}"),
            _ => {}
        }
        anyhow::ensure!(Instant::now() < deadline, "the transcode did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    server.stop().await;

    println!("## Jobs: the API while a transcode runs\n");
    println!(
        "One kith process, one worker. {clients} clients loop `GET /api/feed` (20 posts) for {:.0} s, first idle, then while a {CLIP_SECONDS} s 1920x1080 clip is transcoded to 720p (ffmpeg in the idle scheduling class at nice 19, through the job queue){}. Target: p99 during the transcode at most 2x idle.\n",
        window.as_secs_f64(),
        if still {
            ""
        } else {
            " — the transcode ended before the window did"
        }
    );
    let ratio = api_table(&idle, &busy, window, "during a transcode");
    println!("\np99 ratio (transcoding / idle): {ratio:.2}\n");
    println!("## Jobs: transcode speed\n");
    println!(
        "| clip | upload accepted → ready | speed (× real time) |\n|---|---|---|\n| {CLIP_SECONDS} s 1920x1080 H.264 + AAC → 1280x720 | {:.1} s | {:.2}x |\n",
        took.as_secs_f64(),
        f64::from(CLIP_SECONDS) / took.as_secs_f64()
    );
    Ok(())
}
