//! kith side by side with the stack it replaces (`bench/peer/`), same box,
//! same load generator, same run: HTTP, realtime fan-out across two nodes,
//! memory per idle connection, and queue throughput. Each figure is the
//! median of `--runs` runs, the sides alternating which goes first. Ends
//! with the `SUMMARY` line.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::http::{self, Figures};
use crate::peer::Peer;
use crate::realtime::{self, ChatSpec, Proto};
use crate::{Opts, cluster};

/// Sending users in the chat scenario; each has `CONNS_PER_SENDER`
/// connections (the send limit is per connection) in one conversation of
/// `GROUP` members. 300 offer 144,000 deliveries a second: at 100 (48,000)
/// the peer delivered everything offered in a `--quick` run on this box,
/// and at 200 (96,000) kith did, so each time the row measured the offer,
/// not that side's capacity.
const SENDERS: usize = 300;
const CONNS_PER_SENDER: usize = 4;
const GROUP: usize = 10;
/// Users whose sessions the idle connections share.
const IDLE_USERS: usize = 10;
/// Queue benchmark: the workers' concurrency on both sides.
const JOB_WORKERS: usize = 16;

/// One run's figures for one side.
struct Side {
    http: [Figures; 2],
    chat: realtime::ChatRow,
    idle: realtime::IdleRow,
    jobs_per_s: f64,
}

/// Reads one figure of a side's run.
type Get<'a> = &'a dyn Fn(&Side) -> f64;

fn chat_spec(proto: Proto) -> ChatSpec {
    ChatSpec {
        groups: SENDERS,
        size: GROUP,
        conns_per_sender: CONNS_PER_SENDER,
        proto,
    }
}

async fn idle_cookies(base: &str, prefix: &str) -> anyhow::Result<Vec<String>> {
    let c = reqwest::Client::new();
    let names: Vec<String> = (0..IDLE_USERS).map(|i| format!("{prefix}{i}")).collect();
    realtime::signup(&c, base, &names).await
}

/// kith's chat row on a two-node cluster, clients spread over both.
async fn kith_chat_on(opts: &Opts, cl: &cluster::Cluster) -> anyhow::Result<realtime::ChatRow> {
    let bases: Vec<String> = cl.nodes.iter().map(|n| n.base.clone()).collect();
    let pids: Vec<u32> = cl.nodes.iter().filter_map(|n| n.pid()).collect();
    realtime::chat_on(
        opts,
        &bases[0],
        &bases,
        &bases,
        chat_spec(Proto::Kith),
        &pids,
    )
    .await
}

/// kith's chat scenario alone (`--only chat-cluster`), on two fresh nodes:
/// the row the side-by-side reports, for profiling it.
pub async fn kith_chat(opts: &Opts) -> anyhow::Result<()> {
    let cl = cluster::start(opts, 2).await?;
    println!("{}", kith_chat_on(opts, &cl).await?.text);
    Ok(())
}

/// kith: HTTP on one process; idle connections and chat on two nodes (a
/// primary and a replica) with clients spread over both; the queue in a
/// process of its own on the server CPUs.
async fn kith_side(opts: &Opts) -> anyhow::Result<Side> {
    let server = crate::server::Server::start(opts, &[]).await?;
    let http = http::side(opts, std::slice::from_ref(&server.base)).await;
    server.stop().await;
    let http = http?;

    let cl = cluster::start(opts, 2).await?;
    let bases: Vec<String> = cl.nodes.iter().map(|n| n.base.clone()).collect();
    let rss = || -> anyhow::Result<u64> { cl.nodes.iter().map(|n| n.rss_kib()).sum() };
    let cookies = idle_cookies(&bases[0], "idle").await?;
    let idle = realtime::idle_on(Proto::Kith, &bases, &cookies, opts.idle, &rss).await?;
    log_idle("kith", &idle);
    let chat = kith_chat_on(opts, &cl).await?;
    drop(cl);

    let out = crate::server::pinned(opts, &std::env::current_exe()?)
        .arg("--queue-child")
        .arg(JOB_WORKERS.to_string())
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "kith queue benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jobs_per_s = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("jobs_per_s=")?.trim().parse().ok())
        .context("no jobs_per_s from the queue benchmark")?;
    Ok(Side {
        http,
        chat,
        idle,
        jobs_per_s,
    })
}

/// The peer: everything on its two Node processes and Redis; BullMQ's
/// benchmark (`jobs-bench.js`, its worker a process of its own) on the
/// server CPUs.
async fn peer_side(opts: &Opts, dir: &Path) -> anyhow::Result<Side> {
    let peer = Peer::start(dir, opts.server_cpus.as_deref()).await?;
    let side = peer_scenarios(opts, dir, &peer).await;
    peer.stop().await;
    side
}

async fn peer_scenarios(opts: &Opts, dir: &Path, peer: &Peer) -> anyhow::Result<Side> {
    // Idle connections first, on fresh processes, as kith's are measured
    // on fresh nodes: memory other scenarios leave free in V8's heap would
    // otherwise absorb the connections' growth.
    let cookies = idle_cookies(&peer.bases[0], "idle").await?;
    let idle = realtime::idle_on(Proto::SocketIo, &peer.bases, &cookies, opts.idle, &|| {
        peer.rss_kib()
    })
    .await?;
    log_idle("peer", &idle);
    let http = http::side(opts, &peer.bases).await?;
    let chat = realtime::chat_on(
        opts,
        &peer.bases[0],
        &peer.bases,
        &peer.bases,
        chat_spec(Proto::SocketIo),
        &peer.pids()?,
    )
    .await?;
    let out = crate::server::pinned(opts, Path::new("node"))
        .arg(dir.join("jobs-bench.js"))
        .args(["--concurrency", &JOB_WORKERS.to_string()])
        .env("REDIS_URL", &peer.redis_url)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "BullMQ benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(str::to_string)
        .context("no output from jobs-bench.js")?;
    let v: serde_json::Value = serde_json::from_str(&line)?;
    let jobs_per_s = v["jobs_per_s"].as_f64().context("no jobs_per_s")?;
    Ok(Side {
        http,
        chat,
        idle,
        jobs_per_s,
    })
}

fn log_idle(side: &str, r: &realtime::IdleRow) {
    eprintln!(
        "{side}: {} idle connections open ({} failed) in {:.1} s; servers' RSS {:.1} MiB with none, {:.1} with {}, {:.1} with all: {:.2} KiB each",
        r.open,
        r.failed,
        r.open_secs,
        r.before_kib as f64 / 1024.0,
        r.mark_kib as f64 / 1024.0,
        r.mark,
        r.after_kib as f64 / 1024.0,
        r.per_conn_kib()
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A figure across runs: its median, and the range.
fn summary(v: Vec<f64>) -> (f64, f64, f64) {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median(v), min, max)
}

fn command_version(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "not found".into())
}

fn versions(dir: &Path) -> String {
    let pkg: serde_json::Value = std::fs::read_to_string(dir.join("package.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let deps = pkg["dependencies"]
        .as_object()
        .map(|d| {
            d.iter()
                .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "kith {} (SQLite {}); Node {}; {}; {deps}",
        env!("CARGO_PKG_VERSION"),
        crate::writer::sqlite_version(),
        command_version("node", &["--version"]),
        command_version("redis-server", &["--version"])
            .split(" sha=")
            .next()
            .unwrap_or_default(),
    )
}

pub async fn run(opts: &Opts, dir: &Path) -> anyhow::Result<()> {
    println!("## Side by side: kith and the stack it replaces\n");
    println!("versions: {}\n", versions(dir));
    println!(
        "pinning: {}\n",
        match &opts.server_cpus {
            Some(c) => format!(
                "servers of both sides on CPU(s) {c}; the load generator on the remaining CPU(s) (taskset)"
            ),
            None => "none: servers and load generator share every core".into(),
        }
    );
    println!(
        "Each run: HTTP ({} clients, {:.0} s per scenario); {} idle connections spread over two nodes; chat with {SENDERS} senders × {CONNS_PER_SENDER} connections at {} msgs/s each into conversations of {GROUP}, every connection spread over two nodes; {JOB_WORKERS}-way queue. {} runs, alternating which side goes first.\n",
        opts.concurrency,
        opts.duration.as_secs_f64(),
        opts.idle,
        opts.rate,
        opts.runs
    );
    // The physical reference: the writer's throughput against raw batched
    // inserts on the same disk (both in this process; the disk is the limit).
    let dur = Duration::from_secs(3);
    let raw: Vec<(usize, f64)> = crate::writer::RAW_BATCHES
        .iter()
        .map(|&b| Ok((b, crate::writer::raw_batched(b, dur)?)))
        .collect::<anyhow::Result<_>>()?;
    let likes = crate::writer::writer_likes(dur).await?;
    println!(
        "Physical reference (same disk, WAL, `synchronous=FULL`): raw SQLite inserts {}; kith's writer, 64 concurrent callers: {likes:.0} likes/s, each a visibility check, a row and a counter update.\n",
        raw.iter()
            .map(|(b, r)| format!("{r:.0} rows/s at {b} per transaction"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut kith = Vec::new();
    let mut peer = Vec::new();
    for r in 0..opts.runs {
        eprintln!("run {} of {}", r + 1, opts.runs);
        if r % 2 == 0 {
            kith.push(kith_side(opts).await?);
            peer.push(peer_side(opts, dir).await?);
        } else {
            peer.push(peer_side(opts, dir).await?);
            kith.push(kith_side(opts).await?);
        }
        // Between runs, let the kernel reap sockets in TIME_WAIT.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    println!(
        "| scenario | figure | kith (median, range) | peer (median, range) | kith / peer | goal |"
    );
    println!("|---|---|---|---|---|---|");
    let row = |scenario: &str, figure: &str, get: Get, goal: &str, digits: usize| {
        let (km, kmin, kmax) = summary(kith.iter().map(get).collect());
        let (pm, pmin, pmax) = summary(peer.iter().map(get).collect());
        let ratio = if pm > 0.0 { km / pm } else { f64::NAN };
        println!(
            "| {scenario} | {figure} | {km:.digits$} ({kmin:.digits$}–{kmax:.digits$}) | {pm:.digits$} ({pmin:.digits$}–{pmax:.digits$}) | {ratio:.2}x | {goal} |"
        );
        ratio
    };
    // Each HTTP scenario's throughput and p99 ratios, for the SUMMARY.
    let mut rps = Vec::new();
    let mut p99 = Vec::new();
    for (i, scenario) in ["HTTP feed read (20 posts)", "HTTP like / unlike"]
        .into_iter()
        .enumerate()
    {
        rps.push(row(scenario, "req/s", &|s| s.http[i].rps, "≥ 5x", 0));
        row(
            scenario,
            "p50 ms",
            &|s| s.http[i].p50_us as f64 / 1000.0,
            "",
            2,
        );
        p99.push(row(
            scenario,
            "p99 ms",
            &|s| s.http[i].p99_us as f64 / 1000.0,
            "≤ 0.2x",
            2,
        ));
    }
    let chat = "chat across 2 nodes";
    let ws_msgs = row(
        chat,
        "delivered msgs/s",
        &|s| s.chat.delivered_per_s,
        "≥ 5x",
        0,
    );
    let chat_rows: [(&str, Get); 5] = [
        ("p50 ms", &|s| s.chat.p50_us as f64 / 1000.0),
        ("p99 ms", &|s| s.chat.p99_us as f64 / 1000.0),
        ("servers' CPU in user space (cores)", &|s| {
            s.chat.server_user
        }),
        ("servers' CPU in the kernel (cores)", &|s| s.chat.server_sys),
        ("load generator CPU (cores)", &|s| s.chat.loadgen_cpu),
    ];
    for (figure, get) in chat_rows {
        row(chat, figure, get, "", 2);
    }
    let ws_mem = row(
        "idle connections, 2 nodes",
        "KiB per connection",
        &|s| s.idle.per_conn_kib(),
        "≤ 0.33x",
        2,
    );
    let jobs = row("queue (no-op jobs)", "jobs/s", &|s| s.jobs_per_s, "≥ 1x", 0);
    println!();
    let failures: Vec<String> = kith
        .iter()
        .map(|s| ("kith", s))
        .chain(peer.iter().map(|s| ("peer", s)))
        .filter_map(|(name, s)| {
            let http_errors = s.http[0].errors + s.http[1].errors;
            (http_errors + s.chat.errors + s.idle.failed as u64 > 0).then(|| {
                format!(
                    "{name}: {http_errors} HTTP errors, {} chat errors, {} idle connections failed",
                    s.chat.errors, s.idle.failed
                )
            })
        })
        .collect();
    if failures.is_empty() {
        println!("No errors on either side in any run.\n");
    } else {
        println!("Errors: {}\n", failures.join("; "));
    }
    // The two HTTP scenarios are combined by their geometric mean.
    let geo = |a: f64, b: f64| (a * b).sqrt();
    println!(
        "SUMMARY http_rps_ratio={:.2} http_p99_ratio={:.2} ws_msgs_ratio={ws_msgs:.2} ws_mem_ratio={ws_mem:.2} jobs_ratio={jobs:.2}",
        geo(rps[0], rps[1]),
        geo(p99[0], p99[1]),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ranges() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(summary(vec![5.0, 1.0, 9.0]), (5.0, 1.0, 9.0));
    }
}
