//! Live counts (`--only live`): one post on the screens of many connected
//! users while it is liked about 100 times a second. Measures the
//! `post_counts` updates delivered per second, how long a like takes to
//! show on every screen (p50, p99), and the server's CPU.
//!
//! Each watcher is its own user and each like comes from a different
//! watcher, so the count only grows: the like whose answer said `n` is on
//! a screen as soon as that screen shows a count of `n` or more, which lets
//! the load generator time every like on every screen without any help
//! from the server.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::link::Ws;
use crate::realtime::{connect, cpu_of, cpu_secs, signup};
use crate::server::{Server, call};
use crate::{Opts, ms};

/// Connected users with the post on screen (the figure).
const WATCHERS: usize = 1_000;
/// Likes offered per second, each by a different watcher.
const LIKES_PER_S: f64 = 100.0;
/// Likes in flight at once: enough that a slow answer does not hold the
/// offered rate back.
const LIKES_IN_FLIGHT: usize = 32;
const WARMUP: Duration = Duration::from_secs(1);
/// After the last like, time for the last coalesced updates (250 ms apart
/// at most) to arrive.
const GRACE: Duration = Duration::from_secs(2);

/// What one watcher saw: `(µs since the epoch, like_count)` per update.
type Seen = Vec<(u64, i64)>;

async fn watch(mut ws: Ws, post: String, stop_at: Instant, epoch: Instant) -> anyhow::Result<Seen> {
    ws.send(Message::text(
        json!({"type": "watch", "posts": [post]}).to_string(),
    ))
    .await?;
    let mut seen = Seen::new();
    let stop = tokio::time::Instant::from_std(stop_at);
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(&t)?;
                    if v["type"] == "post_counts" {
                        let at = epoch.elapsed().as_micros() as u64;
                        seen.push((at, v["like_count"].as_i64().context("like_count")?));
                    }
                }
                Some(Ok(_)) => {}
                _ => anyhow::bail!("a watcher's socket closed"),
            },
            _ = tokio::time::sleep_until(stop) => break,
        }
    }
    let _ = ws.close(None).await;
    Ok(seen)
}

/// The delay of every like on every screen: for the like that made the
/// count `n` (sent at `sent[n]`), the first update a watcher read showing
/// `n` or more. Likes sent before `from_us` (the warm-up) are left out;
/// a like never seen counts as `missed`.
fn delays(
    sent: &[(i64, u64)],
    screens: &[Seen],
    from_us: u64,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut missed = 0;
    for seen in screens {
        for &(count, at) in sent.iter().filter(|(_, at)| *at >= from_us) {
            match seen.iter().find(|(_, c)| *c >= count) {
                Some(&(shown, _)) => hist.record(shown.saturating_sub(at).max(1))?,
                None => missed += 1,
            }
        }
    }
    Ok((hist, missed))
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    let server = Server::start(opts, &["--no-webtransport"]).await?;
    let result = on(opts, &server).await;
    server.stop().await;
    let row = result?;
    println!("## Live counts: one post on 1,000 screens, liked 100 times a second\n");
    println!(
        "One kith process (release build, `--no-webtransport`) on loopback. {WATCHERS} users, each on its own WebSocket, `watch` one public post; {LIKES_PER_S:.0} likes a second, each by a different watcher (`PUT /api/posts/{{id}}/like`, at most {LIKES_IN_FLIGHT} in flight), for {:.0} s after {:.0} s of warm-up. kith sends a watcher at most one `post_counts` per post every 250 ms, so the most it can deliver is 4 updates a second per screen. The delay of a like on a screen is from just before its request is written to the first update that screen reads showing its count or more; every like is timed on every screen. CPU is the kith process's user + system time over the run in cores; the load generator runs on the same 2 cores.\n",
        row.secs,
        WARMUP.as_secs_f64()
    );
    println!(
        "| screens | likes/s done | updates delivered/s | most possible/s | like → screen p50 ms | p99 ms | max ms | likes never shown | like request p99 ms | server CPU cores | load generator CPU cores |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!("{}\n", row.text);
    Ok(())
}

struct Row {
    text: String,
    secs: f64,
}

async fn on(opts: &Opts, server: &Server) -> anyhow::Result<Row> {
    use reqwest::Method;
    let base = &server.base;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let secs = opts.duration.as_secs_f64();
    // Every like is a new watcher's first: at most one per user.
    let likes = ((secs + WARMUP.as_secs_f64()) * LIKES_PER_S) as usize;
    anyhow::ensure!(
        likes <= WATCHERS,
        "{likes} likes need more than {WATCHERS} users: use --seconds {:.0} or less",
        WATCHERS as f64 / LIKES_PER_S - WARMUP.as_secs_f64()
    );
    let author = signup(&c, base, &["liveauthor".to_string()]).await?;
    let post = call(
        &c,
        Method::POST,
        format!("{base}/api/posts"),
        Some(&author[0]),
        Some(json!({"body": "on every screen", "visibility": "public"})),
    )
    .await?;
    let post = post["post"]["id"].as_str().context("post id")?.to_string();
    let names: Vec<String> = (0..WATCHERS).map(|i| format!("watcher{i}")).collect();
    let cookies = signup(&c, base, &names).await?;
    let socks: Vec<anyhow::Result<Ws>> = stream::iter(cookies.iter())
        .map(|ck| connect(base, ck))
        .buffered(50)
        .collect()
        .await;
    let socks: Vec<Ws> = socks.into_iter().collect::<anyhow::Result<_>>()?;

    let epoch = Instant::now();
    // Watchers subscribe first; likes start a second later.
    let likes_from = epoch + Duration::from_secs(1);
    let measure_from = likes_from + WARMUP;
    let likes_end = measure_from + opts.duration;
    let stop_at = likes_end + GRACE;
    let watchers: Vec<_> = socks
        .into_iter()
        .map(|ws| tokio::spawn(watch(ws, post.clone(), stop_at, epoch)))
        .collect();
    let pid = server.pid().context("kith has exited")?.to_string();
    let (cpu0, load0) = (cpu_of(&pid), cpu_secs());
    tokio::time::sleep_until(tokio::time::Instant::from_std(likes_from)).await;

    // Likes at a fixed rate: like k is due at k / rate.
    let period = Duration::from_secs_f64(1.0 / LIKES_PER_S);
    let answers: Vec<anyhow::Result<(i64, u64, u64)>> = stream::iter(0..likes)
        .map(|k| {
            let (c, cookie, post) = (&c, &cookies[k], &post);
            async move {
                let due = likes_from + period * k as u32;
                tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                let at = epoch.elapsed().as_micros() as u64;
                let r = call(
                    c,
                    Method::PUT,
                    format!("{base}/api/posts/{post}/like"),
                    Some(cookie),
                    None,
                )
                .await?;
                let took = epoch.elapsed().as_micros() as u64 - at;
                Ok((r["like_count"].as_i64().context("like_count")?, at, took))
            }
        })
        .buffer_unordered(LIKES_IN_FLIGHT)
        .collect()
        .await;
    let likes_done_at = epoch.elapsed();
    let mut sent = Vec::with_capacity(likes);
    let mut request = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for a in answers {
        let (count, at, took) = a?;
        sent.push((count, at));
        request.record(took.max(1))?;
    }
    let mut screens = Vec::with_capacity(WATCHERS);
    for w in watchers {
        screens.push(w.await??);
    }
    let elapsed = epoch.elapsed().as_secs_f64();
    let cpu1 = cpu_of(&pid);
    let server_cpu = (cpu1.0 + cpu1.1 - cpu0.0 - cpu0.1) / elapsed;
    let load_cpu = (cpu_secs() - load0) / elapsed;

    let from_us = measure_from.duration_since(epoch).as_micros() as u64;
    let to_us = likes_end.duration_since(epoch).as_micros() as u64;
    let measured_likes = sent
        .iter()
        .filter(|(_, at)| (from_us..to_us).contains(at))
        .count();
    let updates: usize = screens
        .iter()
        .map(|s| {
            s.iter()
                .filter(|(at, _)| (from_us..to_us).contains(at))
                .count()
        })
        .sum();
    let (hist, missed) = delays(&sent, &screens, from_us)?;
    anyhow::ensure!(
        likes_done_at < (likes_end - epoch) + Duration::from_secs(5),
        "the likes fell behind their schedule by more than 5 s"
    );
    Ok(Row {
        text: format!(
            "| {WATCHERS} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {missed} | {} | {server_cpu:.2} | {load_cpu:.2} |",
            measured_likes as f64 / secs,
            updates as f64 / secs,
            WATCHERS as f64 * 4.0,
            ms(&hist, 0.5),
            ms(&hist, 0.99),
            ms(&hist, 1.0),
            ms(&request, 0.99),
        ),
        secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_like_is_timed_to_the_first_update_showing_its_count() {
        // Likes made the count 1 at 100 µs and 2 at 200 µs.
        let sent = [(1, 100), (2, 200)];
        // One screen read 1 at 150 and 2 at 400; another jumped to 2 at
        // 300; a third never heard of the second like.
        let screens = vec![vec![(150, 1), (400, 2)], vec![(300, 2)], vec![(160, 1)]];
        let (h, missed) = delays(&sent, &screens, 0).expect("delays");
        assert_eq!(missed, 1);
        assert_eq!(h.len(), 5);
        // 50, 200 | 200, 100 | 60
        assert_eq!(h.max(), 200);
        assert_eq!(h.min(), 50);
        // The warm-up's likes are left out.
        let (h, missed) = delays(&sent, &screens, 150).expect("delays");
        assert_eq!((h.len(), missed), (2, 1));
    }
}
