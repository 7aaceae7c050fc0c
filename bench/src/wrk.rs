//! Feed reads and likes measured by wrk, a load generator nobody here
//! wrote: the issue's own yardstick (32 connections; 1,000 users, 10
//! friends each; a feed page of 20 posts; cookie sessions).
//!
//! kith-bench seeds the server over its API, writes the users' session
//! cookies and the public posts' ids to files, and runs `wrk` (Debian's)
//! with `bench/wrk/feed.lua` and `bench/wrk/like.lua`. wrk runs on the load
//! generator's CPU (it inherits kith-bench's pinning), kith on the server's.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use reqwest::Method;
use serde_json::json;

use crate::Opts;
use crate::server::{Server, befriend, call};

const USERS: usize = 1000;
/// Each user is friends with the `FRIENDS / 2` users on either side of
/// them on a ring: 10 friends each.
const FRIENDS: usize = 10;
/// Posts per user: a feed spans 11 authors' 44 posts, a page is 20.
const POSTS_EACH: usize = 4;
const CONNECTIONS: usize = 32;
/// Set-up calls in flight at once.
const SETUP_CONCURRENCY: usize = 8;

/// Signs up the users, befriends them on a ring, writes their posts.
/// Returns each user's cookie and the public posts' ids.
async fn seed(base: &str) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let names: Vec<String> = (0..USERS).map(|i| format!("wrkuser{i}")).collect();
    let cookies = crate::realtime::signup(&client, base, &names).await?;
    let pairs: Vec<(usize, usize)> = (0..USERS)
        .flat_map(|i| (1..=FRIENDS / 2).map(move |d| (i, (i + d) % USERS)))
        .collect();
    let results: Vec<anyhow::Result<()>> = stream::iter(pairs)
        .map(|(i, j)| {
            let (client, cookies, names) = (&client, &cookies, &names);
            async move { befriend(client, base, &cookies[i], &cookies[j], &names[j]).await }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    let posts: Vec<anyhow::Result<Option<String>>> = stream::iter(0..USERS * POSTS_EACH)
        .map(|n| {
            let (client, cookies) = (&client, &cookies);
            async move {
                let public = n % 2 == 0;
                let r = call(
                    client,
                    Method::POST,
                    format!("{base}/api/posts"),
                    Some(&cookies[n % USERS]),
                    Some(json!({
                        "body": format!("post {n} of the wrk benchmark, about this long"),
                        "visibility": if public { "public" } else { "friends" },
                    })),
                )
                .await?;
                let id = r["post"]["id"].as_str().context("post id")?.to_owned();
                Ok(public.then_some(id))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    let mut public = Vec::new();
    for p in posts {
        public.extend(p?);
    }
    Ok((cookies, public))
}

/// What one wrk run measured.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct WrkRun {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Socket errors plus answers other than 2xx/3xx.
    pub errors: u64,
}

/// A wrk latency like `812.00us`, `5.12ms` or `1.01s`, in milliseconds.
fn latency_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, scale) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

/// Reads wrk's report (run with `--latency`).
pub fn parse(out: &str) -> anyhow::Result<WrkRun> {
    let mut run = WrkRun::default();
    let mut rps = None;
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = t.strip_prefix("50%") {
            run.p50_ms = latency_ms(v).context("p50")?;
        } else if let Some(v) = t.strip_prefix("99%") {
            run.p99_ms = latency_ms(v).context("p99")?;
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            run.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            run.errors += v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    run.rps = rps.context("no Requests/sec in wrk's report")?;
    Ok(run)
}

async fn wrk(
    script: &Path,
    base: &str,
    dur: Duration,
    files: &(tempfile::TempPath, tempfile::TempPath),
) -> anyhow::Result<WrkRun> {
    let out = tokio::process::Command::new("wrk")
        .arg("-t1")
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{}s", dur.as_secs().max(1)))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(base)
        .env("KITH_WRK_COOKIES", &*files.0)
        .env("KITH_WRK_POSTS", &*files.1)
        .kill_on_drop(true)
        .output()
        .await
        .context("running wrk (Debian's package wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    parse(&text)
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    println!(
        "## wrk: feed reads and likes ({USERS} users, {FRIENDS} friends each, {CONNECTIONS} connections)\n"
    );
    let server = Server::start(opts, &[]).await?;
    let (cookies, posts) = seed(&server.base).await?;
    let write = |lines: &[String]| -> anyhow::Result<tempfile::TempPath> {
        let mut f = tempfile::NamedTempFile::new()?;
        std::io::Write::write_all(&mut f, (lines.join("\n") + "\n").as_bytes())?;
        Ok(f.into_temp_path())
    };
    let files = (write(&cookies)?, write(&posts)?);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("wrk");
    println!("| scenario | req/s (median, range) | p50 ms | p99 ms (median, range) | errors |");
    println!("|---|---|---|---|---|");
    for (name, script) in [
        ("feed read (20 posts)", "feed.lua"),
        ("like / unlike", "like.lua"),
    ] {
        // A short warm-up: page cache, statement caches, session caches.
        wrk(
            &dir.join(script),
            &server.base,
            Duration::from_secs(2),
            &files,
        )
        .await?;
        let mut runs = Vec::new();
        for _ in 0..opts.runs {
            runs.push(wrk(&dir.join(script), &server.base, opts.duration, &files).await?);
        }
        let (rps, rps_lo, rps_hi) = median(runs.iter().map(|r| r.rps).collect());
        let (p50, _, _) = median(runs.iter().map(|r| r.p50_ms).collect());
        let (p99, p99_lo, p99_hi) = median(runs.iter().map(|r| r.p99_ms).collect());
        let errors: u64 = runs.iter().map(|r| r.errors).sum();
        println!(
            "| {name} | {rps:.0} ({rps_lo:.0}–{rps_hi:.0}) | {p50:.2} | {p99:.2} ({p99_lo:.2}–{p99_hi:.2}) | {errors} |"
        );
    }
    println!();
    server.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrks_report() {
        let out = "Running 5s test @ http://127.0.0.1:1234
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  512.00us  14.20ms   90.12%
    Req/Sec    15.20k     1.10k   16.90k    70.00%
  Latency Distribution
     50%    1.98ms
     75%    2.20ms
     90%    2.60ms
     99%  812.00us
  76012 requests in 5.00s, 180.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  15202.40
Transfer/sec:     36.02MB
";
        let r = parse(out).expect("parse");
        assert_eq!(r.rps, 15202.40);
        assert_eq!(r.p50_ms, 1.98);
        assert!((r.p99_ms - 0.812).abs() < 1e-9);
        assert_eq!(r.errors, 7);
        assert_eq!(latency_ms("1.50s"), Some(1500.0));
        assert!(parse("no report").is_err());
    }
}
