//! Photos: the image pipeline on its own (a 12-megapixel JPEG decoded,
//! turned, resized to both variants, encoded to WebP and JPEG, hashed),
//! images per second with 1 and 2 workers, upload-to-ready through a
//! real server, the API while photos are processed, and the server's
//! memory while a 2 GiB upload streams in.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::Opts;
use crate::jobs::{api_table, load, media_status};
use crate::server::{Server, rss_of, signed_up};

/// A 12 MP (4000x3000) photo-like JPEG: smooth gradients with grain, at
/// quality 90, about what a phone writes.
pub fn twelve_megapixels(seed: u64) -> Vec<u8> {
    let (w, h) = (4000u16, 3000u16);
    let mut x = seed | 1;
    let mut px = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for row in 0..u32::from(h) {
        for col in 0..u32::from(w) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let grain = (x & 15) as u32;
            px.push(((col * 200 / 4000) + grain) as u8);
            px.push(((row * 200 / 3000) + grain) as u8);
            px.push((((col + row) * 120 / 7000) + 60 + grain) as u8);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&px, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encoded");
    out
}

fn process(path: &std::path::Path) -> anyhow::Result<()> {
    let img = kith::media::image::decode(path)?;
    kith::media::image::photo(img)?;
    Ok(())
}

/// Images per second with `threads` threads, each processing `each`.
fn rate(path: &std::path::Path, threads: usize, each: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..each {
                        process(path)?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a thread panicked"))??;
        }
        anyhow::Ok(())
    })?;
    Ok((threads * each) as f64 / started.elapsed().as_secs_f64())
}

async fn upload(c: &reqwest::Client, base: &str, jpeg: &[u8]) -> anyhow::Result<String> {
    let mut body = b"--kithbench\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
    body.extend_from_slice(jpeg);
    body.extend_from_slice(b"\r\n--kithbench--\r\n");
    let r = c
        .post(format!("{base}/api/media"))
        .header("content-type", "multipart/form-data; boundary=kithbench")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 202, "upload: {}", r.status());
    Ok(r.json::<Value>().await?["id"]
        .as_str()
        .context("id")?
        .to_string())
}

async fn until_ready(c: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = media_status(c, base, id).await?;
        match v["status"].as_str() {
            Some("ready") => return Ok(()),
            Some("failed") => anyhow::bail!("failed: {v}"),
            _ => {}
        }
        anyhow::ensure!(Instant::now() < deadline, "not ready after 120 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("12mp.jpg");
    let jpeg = twelve_megapixels(42);
    std::fs::write(&path, &jpeg)?;

    println!("## Photos: the pipeline\n");
    println!(
        "A 4000x3000 JPEG of {:.1} MB decoded, turned upright, resized to a 2048 px and a 400 px variant, each encoded to WebP (q80) and JPEG (q82), blurhash of a 64 px copy: in process, release build.\n",
        jpeg.len() as f64 / 1e6
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        process(&path)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!("| one 12 MP photo | median ms | min ms | max ms |\n|---|---|---|---|");
    println!(
        "| processing | {:.0} | {:.0} | {:.0} |\n",
        times[2], times[0], times[4]
    );
    println!("| workers (threads) | 12 MP photos/s |\n|---|---|");
    for threads in [1, 2] {
        println!("| {threads} | {:.2} |", rate(&path, threads, 4)?);
    }
    println!();

    let server = Server::start(opts, &["--no-webtransport", "--workers", "1"]).await?;
    let base = server.base.clone();
    let c = signed_up(&base).await?;
    for i in 0..20 {
        c.post(format!("{base}/api/posts"))
            .json(&json!({"body": format!("post {i}")}))
            .send()
            .await?;
    }
    let mut ready = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let id = upload(&c, &base, &jpeg).await?;
        until_ready(&c, &base, &id).await?;
        ready.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ready.sort_by(f64::total_cmp);
    println!("## Photos: upload to ready\n");
    println!(
        "One kith process, one worker: `POST /api/media` with the same 12 MP JPEG, then `GET /api/media/{{id}}` every 10 ms until `ready` (5 runs). Target: within 1 s.\n"
    );
    println!("| | median ms | min ms | max ms |\n|---|---|---|---|");
    println!(
        "| upload sent → ready | {:.0} | {:.0} | {:.0} |\n",
        ready[2], ready[0], ready[4]
    );

    let clients = 8;
    let window = Duration::from_secs(5);
    let idle = load(&base, &c, clients, window).await?;
    // Keep the worker busy for the whole window: queue more than it can do.
    let mut queued = Vec::new();
    for _ in 0..12 {
        queued.push(upload(&c, &base, &jpeg).await?);
    }
    let busy = load(&base, &c, clients, window).await?;
    let mut done_in_window = 0;
    for id in &queued {
        if media_status(&c, &base, id).await?["status"] == "ready" {
            done_in_window += 1;
        }
    }
    for id in &queued {
        until_ready(&c, &base, id).await?;
    }
    println!("## Photos: the API while photos are processed\n");
    println!(
        "{clients} clients loop `GET /api/feed` (20 posts) for {} s, idle, then while 12 queued 12 MP photos are processed by the worker. Target: p99 at most 1.5x idle.\n",
        window.as_secs()
    );
    let ratio = api_table(&idle, &busy, window, "during processing");
    println!(
        "\np99 ratio (processing / idle): {ratio:.2}; photos made during the window: {done_in_window} of 12 (the worker's thread runs in the idle scheduling class, so it takes only the CPU the API leaves)\n"
    );
    server.stop().await;

    big_upload(opts).await
}

/// RSS while a 2 GiB resumable upload streams in one `PATCH`.
async fn big_upload(opts: &Opts) -> anyhow::Result<()> {
    const LEN: u64 = 2 * 1024 * 1024 * 1024;
    let server = Server::start(
        opts,
        &[
            "--no-webtransport",
            "--max-upload-bytes",
            "3221225472",
            "--user-quota-bytes",
            "4294967296",
        ],
    )
    .await?;
    let base = server.base.clone();
    let pid = server.pid().context("server pid")?;
    let c = signed_up(&base).await?;
    let r = c
        .post(format!("{base}/api/uploads"))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", LEN.to_string())
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 201, "create: {}", r.status());
    let loc = r.headers()["location"].to_str()?.to_string();
    let before = rss_of(pid)?;
    // 1 MiB pieces of an MP4-looking stream, made as they are sent.
    let piece = bytes::Bytes::from(vec![0u8; 1024 * 1024]);
    let head = {
        let mut h = vec![0u8; 1024 * 1024];
        h[..12].copy_from_slice(b"\0\0\0\x18ftypisom");
        bytes::Bytes::from(h)
    };
    let stream =
        futures_util::stream::iter((0..LEN / (1024 * 1024)).map(move |i| {
            Ok::<_, std::io::Error>(if i == 0 { head.clone() } else { piece.clone() })
        }));
    let sampling = tokio::spawn(async move {
        let mut max = 0;
        let mut samples = 0;
        loop {
            match rss_of(pid) {
                Ok(r) => max = max.max(r),
                Err(_) => return (max, samples),
            }
            samples += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let started = Instant::now();
    let r = c
        .patch(format!("{base}{loc}"))
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await?;
    let took = started.elapsed();
    let status = r.status();
    let after = rss_of(pid)?;
    server.stop().await;
    let (max, samples) = sampling.await?;
    println!("## Photos: memory while a 2 GiB upload streams\n");
    println!(
        "One resumable upload of 2 GiB in a single `PATCH` over loopback, its RSS read every 100 ms ({samples} samples). The bytes go to the media store as they come; at the end the file is hashed and checked (these zeros are then refused as no video ffprobe can read: answer {status}). Target: flat.\n"
    );
    println!("| RSS before | RSS max during | RSS after | time | rate |\n|---|---|---|---|---|");
    println!(
        "| {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} s | {:.0} MB/s |\n",
        before as f64 / 1024.0,
        max as f64 / 1024.0,
        after as f64 / 1024.0,
        took.as_secs_f64(),
        LEN as f64 / 1e6 / took.as_secs_f64()
    );
    Ok(())
}
