//! Feed reads and likes through the full HTTP stack of a real kith process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::json;

use crate::Opts;
use crate::server::{Server, call};

/// Users in the benchmark's social graph: all friends with each other,
/// each with `POSTS_EACH` posts, so every feed spans `USERS * POSTS_EACH`
/// posts and a page is 20 of them.
const USERS: usize = 16;
const POSTS_EACH: usize = 10;
const WARMUP: Duration = Duration::from_secs(1);

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Signs up `USERS` users, befriends all pairs, writes the posts. Returns a
/// signed-in client per user and the ids of all posts.
async fn seed(base: &str) -> anyhow::Result<(Vec<reqwest::Client>, Vec<String>)> {
    use reqwest::Method;
    let mut clients = Vec::new();
    for i in 0..USERS {
        let c = client()?;
        call(
            &c,
            Method::POST,
            format!("{base}/api/auth/signup"),
            None,
            Some(json!({"username": format!("user{i}"), "password": "bench-password"})),
        )
        .await?;
        clients.push(c);
    }
    for i in 0..USERS {
        for j in (i + 1)..USERS {
            let r = call(
                &clients[i],
                Method::POST,
                format!("{base}/api/friends/requests"),
                None,
                Some(json!({"username": format!("user{j}")})),
            )
            .await?;
            let id = r["id"].as_str().context("request id")?;
            call(
                &clients[j],
                Method::POST,
                format!("{base}/api/friends/requests/{id}/accept"),
                None,
                None,
            )
            .await?;
        }
    }
    let mut posts = Vec::new();
    for c in &clients {
        for k in 0..POSTS_EACH {
            let r = call(c, Method::POST, format!("{base}/api/posts"), None,
                Some(json!({"body": format!("post number {k} of the benchmark"), "visibility": if k % 2 == 0 { "public" } else { "friends" }}))).await?;
            posts.push(r["post"]["id"].as_str().context("post id")?.to_string());
        }
    }
    Ok((clients, posts))
}

#[derive(Clone, Copy)]
enum Scenario {
    Feed,
    Like,
}

/// Runs `concurrency` loops for warm-up plus `dur`; returns (req/s, latency µs).
async fn drive(
    bases: &[String],
    clients: &[reqwest::Client],
    posts: &Arc<Vec<String>>,
    scenario: Scenario,
    concurrency: usize,
    dur: Duration,
) -> anyhow::Result<(f64, Histogram<u64>, u64)> {
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let end = measure_from + dur;
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let c = clients[t % clients.len()].clone();
        // Clients spread over the peer's processes; kith has one.
        let base = bases[t % bases.len()].clone();
        let posts = posts.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut errors = 0u64;
            let mut i = t;
            while Instant::now() < end {
                let begun = Instant::now();
                let res = match scenario {
                    Scenario::Feed => c.get(format!("{base}/api/feed?limit=20")).send().await,
                    Scenario::Like => {
                        // Alternate like and unlike so counts stay bounded;
                        // every request is a write through the writer.
                        let post = &posts[i % posts.len()];
                        let url = format!("{base}/api/posts/{post}/like");
                        if (i / posts.len()).is_multiple_of(2) {
                            c.put(url).send().await
                        } else {
                            c.delete(url).send().await
                        }
                    }
                };
                let ok = match res {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if begun >= measure_from {
                    if ok {
                        hist.record(begun.elapsed().as_micros() as u64)?;
                    } else {
                        errors += 1;
                    }
                }
                i += concurrency;
            }
            anyhow::Ok((hist, errors))
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await??;
        all.add(h)?;
        errors += e;
    }
    Ok((all.len() as f64 / dur.as_secs_f64(), all, errors))
}

/// One scenario's figures on one side.
pub struct Figures {
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub errors: u64,
}

pub const SCENARIOS: [&str; 2] = ["feed read (20 posts)", "like / unlike (write)"];

/// Seeds `bases[0]` and drives both scenarios (`SCENARIOS`) against
/// `bases`, clients spread over them.
pub async fn side(opts: &Opts, bases: &[String]) -> anyhow::Result<[Figures; 2]> {
    let (clients, posts) = seed(&bases[0]).await?;
    let posts = Arc::new(posts);
    let mut out = Vec::new();
    for scenario in [Scenario::Feed, Scenario::Like] {
        let (rps, hist, errors) = drive(
            bases,
            &clients,
            &posts,
            scenario,
            opts.concurrency,
            opts.duration,
        )
        .await?;
        out.push(Figures {
            rps,
            p50_us: hist.value_at_quantile(0.5),
            p99_us: hist.value_at_quantile(0.99),
            errors,
        });
    }
    let like = out.pop().context("like figures")?;
    let feed = out.pop().context("feed figures")?;
    Ok([feed, like])
}

fn print_side(side: &str, figures: &[Figures; 2]) {
    for (name, f) in SCENARIOS.iter().zip(figures) {
        println!(
            "| {side} | {name} | {:.0} | {:.2} | {:.2} | {} |",
            f.rps,
            f.p50_us as f64 / 1000.0,
            f.p99_us as f64 / 1000.0,
            f.errors
        );
    }
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    println!("## HTTP: authenticated requests through the full stack\n");
    println!(
        "{}; {USERS} users, all friends, posts seeded; {} concurrent clients (keep-alive, cookie sessions), {:.0} s measured after {:.0} s warm-up. The load generator runs on the same 2 cores as the server.\n",
        if opts.peer.is_some() {
            "kith: one process (release build); the peer: Express + express-session/connect-redis on two Node processes and Redis, clients spread over both"
        } else {
            "One kith process (release build) on loopback"
        },
        opts.concurrency,
        opts.duration.as_secs_f64(),
        WARMUP.as_secs_f64()
    );
    println!("| side | scenario | req/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|");
    let server = Server::start(opts, &[]).await?;
    let kith = side(opts, std::slice::from_ref(&server.base)).await;
    server.stop().await;
    let kith = kith?;
    print_side("kith", &kith);
    if let Some(dir) = &opts.peer {
        let peer = crate::peer::Peer::start(dir, opts.server_cpus.as_deref()).await?;
        let theirs = side(opts, &peer.bases).await;
        peer.stop().await;
        let theirs = theirs?;
        print_side("peer", &theirs);
        println!();
        for (name, k, p) in [
            ("feed read", &kith[0], &theirs[0]),
            ("like / unlike", &kith[1], &theirs[1]),
        ] {
            println!(
                "{name}: throughput {:.2}x, p99 {:.2}x (kith / peer)",
                k.rps / p.rps.max(1.0),
                k.p99_us as f64 / (p.p99_us.max(1) as f64)
            );
        }
    }
    println!();
    Ok(())
}
