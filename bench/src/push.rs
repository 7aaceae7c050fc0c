//! Web Push (`--only push`): notifications of people who are not connected,
//! each pushed to one browser subscription whose endpoint is a push
//! service on loopback written here (it answers 201, as FCM and Mozilla's
//! autopush do, and records when each request arrived). Measures the time
//! from the event (a comment) to its push, pushes per second, and the CPU
//! a push costs kith (the encryption is per recipient).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{StreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::realtime::{cpu_of, signup};
use crate::server::{Server, call};
use crate::{Opts, ms};

/// People with the app closed, each with one browser subscribed.
const RECIPIENTS: usize = 300;
/// The latency run: one comment each, at this rate (well under capacity,
/// so the time is a push's, not a queue's).
const STEADY_PER_S: f64 = 50.0;
/// The throughput run: this many comments on each recipient's post, as
/// fast as 32 clients send them.
const BURST_EACH: usize = 4;
const BURST_CLIENTS: usize = 32;

/// Arrival times (µs since the epoch) of pushes, by recipient.
type Arrivals = Arc<Mutex<HashMap<usize, Vec<u64>>>>;

/// The push service: reads each request whole, answers 201, notes the
/// arrival under the recipient its path names (`/push/{i}`).
async fn push_service(epoch: Instant) -> anyhow::Result<(u16, Arrivals)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(8192);
                let mut chunk = [0u8; 8192];
                let (head_end, len) = loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let at = epoch.elapsed().as_micros() as u64;
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let who = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.strip_prefix("/push/"))
                    .and_then(|i| i.parse::<usize>().ok());
                if let Some(i) = who {
                    seen.lock()
                        .map(|mut m| m.entry(i).or_default().push(at))
                        .ok();
                }
                let _ = s
                    .write_all(
                        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    Ok((port, arrivals))
}

/// A browser's subscription keys: a fresh P-256 public key and auth secret.
fn browser_keys() -> anyhow::Result<(String, String)> {
    use ring::agreement::{ECDH_P256, EphemeralPrivateKey};
    use ring::rand::{SecureRandom, SystemRandom};
    let rng = SystemRandom::new();
    let key =
        EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| anyhow::anyhow!("key"))?;
    let public = key
        .compute_public_key()
        .map_err(|_| anyhow::anyhow!("public key"))?;
    let mut auth = [0u8; 16];
    rng.fill(&mut auth).map_err(|_| anyhow::anyhow!("random"))?;
    Ok((
        URL_SAFE_NO_PAD.encode(public.as_ref()),
        URL_SAFE_NO_PAD.encode(auth),
    ))
}

fn pushes(a: &Arrivals) -> usize {
    a.lock()
        .map(|m| m.values().map(Vec::len).sum())
        .unwrap_or(0)
}

/// Waits until `want` pushes arrived in all (at most 60 s).
async fn until(a: &Arrivals, want: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while pushes(a) < want {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {want} pushes arrived",
            pushes(a)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    let server = Server::start(opts, &["--no-webtransport", "--push-allow-private"]).await?;
    let result = on(&server).await;
    server.stop().await;
    let r = result?;
    println!("## Web Push: from an event to the push service\n");
    println!(
        "One kith process (release build, `--no-webtransport`, the default 1 job worker and 2 quick workers) on loopback; a push service written in the load generator, also on loopback, answers every request 201. {RECIPIENTS} people, not connected, each with one subscribed browser. Latency: one comment on each one's post at {STEADY_PER_S:.0} a second; the time from just before the comment's request is written to the push request's last byte arriving. Throughput: {BURST_EACH} more comments on each post ({} pushes) sent by {BURST_CLIENTS} clients as fast as they go; pushes per second from the first comment to the last push. CPU per push: the kith process's CPU over the burst, less that of the same burst of comments to the same people before they subscribed, over the pushes. The load generator runs on the same 2 cores.\n",
        RECIPIENTS * BURST_EACH
    );
    println!(
        "| event → push p50 ms | p99 ms | max ms | pushes/s | comments/s without push | CPU ms per push (marginal) | CPU ms per comment without push |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} |\n",
        ms(&r.latency, 0.5),
        ms(&r.latency, 0.99),
        ms(&r.latency, 1.0),
        r.pushes_per_s,
        r.plain_per_s,
        r.cpu_per_push_ms,
        r.cpu_per_comment_ms
    );
    Ok(())
}

struct Figures {
    latency: Histogram<u64>,
    pushes_per_s: f64,
    plain_per_s: f64,
    cpu_per_push_ms: f64,
    cpu_per_comment_ms: f64,
}

async fn on(server: &Server) -> anyhow::Result<Figures> {
    use reqwest::Method;
    let base = &server.base;
    let pid = server.pid().context("kith has exited")?.to_string();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let epoch = Instant::now();
    let (port, arrivals) = push_service(epoch).await?;
    let actor = signup(&c, base, &["commenter".to_string()])
        .await?
        .remove(0);
    let names: Vec<String> = (0..RECIPIENTS).map(|i| format!("away{i}")).collect();
    let cookies = signup(&c, base, &names).await?;
    let mut posts = Vec::with_capacity(RECIPIENTS);
    for ck in &cookies {
        let p = call(
            &c,
            Method::POST,
            format!("{base}/api/posts"),
            Some(ck),
            Some(json!({"body": "news"})),
        )
        .await?;
        posts.push(p["post"]["id"].as_str().context("post id")?.to_string());
    }
    let comment = |i: usize, n: usize| {
        let (c, actor, post) = (&c, &actor, &posts[i]);
        async move {
            call(
                c,
                Method::POST,
                format!("{base}/api/posts/{post}/comments"),
                Some(actor),
                Some(json!({"body": format!("comment {n}")})),
            )
            .await
            .map(|_| ())
        }
    };
    let burst = |from: usize| {
        stream::iter((0..RECIPIENTS * BURST_EACH).map(move |k| (k % RECIPIENTS, from + k)))
            .map(move |(i, n)| comment(i, n))
            .buffer_unordered(BURST_CLIENTS)
            .collect::<Vec<anyhow::Result<()>>>()
    };
    let cpu = || {
        let (u, s) = cpu_of(&pid);
        u + s
    };

    // The same comments before anyone subscribed: what they cost alone.
    let (t0, c0) = (Instant::now(), cpu());
    burst(0).await.into_iter().collect::<anyhow::Result<()>>()?;
    let plain_secs = t0.elapsed().as_secs_f64();
    let plain_cpu = cpu() - c0;

    for (i, ck) in cookies.iter().enumerate() {
        let (p256dh, auth) = browser_keys()?;
        let body = json!({
            "endpoint": format!("http://127.0.0.1:{port}/push/{i}"),
            "keys": {"p256dh": p256dh, "auth": auth},
        });
        call(
            &c,
            Method::POST,
            format!("{base}/api/push/subscriptions"),
            Some(ck),
            Some(body),
        )
        .await?;
    }

    // Latency: one comment each at a steady rate.
    let period = Duration::from_secs_f64(1.0 / STEADY_PER_S);
    let start = Instant::now();
    let sent: Vec<anyhow::Result<(usize, u64)>> = stream::iter(0..RECIPIENTS)
        .map(|i| {
            let due = start + period * i as u32;
            let comment = &comment;
            async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                let at = epoch.elapsed().as_micros() as u64;
                comment(i, 10_000 + i).await?;
                Ok((i, at))
            }
        })
        .buffer_unordered(BURST_CLIENTS)
        .collect()
        .await;
    until(&arrivals, RECIPIENTS).await?;
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    {
        let seen = arrivals.lock().map_err(|_| anyhow::anyhow!("lock"))?;
        for s in sent {
            let (i, at) = s?;
            let got = seen
                .get(&i)
                .and_then(|v| v.first())
                .context("a push never came")?;
            latency.record(got.saturating_sub(at).max(1))?;
        }
    }

    // Throughput: the burst again, now with a push each.
    let before = pushes(&arrivals);
    let (t1, c1) = (Instant::now(), cpu());
    burst(20_000)
        .await
        .into_iter()
        .collect::<anyhow::Result<()>>()?;
    until(&arrivals, before + RECIPIENTS * BURST_EACH).await?;
    let push_secs = t1.elapsed().as_secs_f64();
    let push_cpu = cpu() - c1;
    let n = (RECIPIENTS * BURST_EACH) as f64;
    Ok(Figures {
        latency,
        pushes_per_s: n / push_secs,
        plain_per_s: n / plain_secs,
        cpu_per_push_ms: (push_cpu - plain_cpu).max(0.0) * 1000.0 / n,
        cpu_per_comment_ms: plain_cpu * 1000.0 / n,
    })
}
