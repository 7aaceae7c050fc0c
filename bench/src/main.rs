//! kith-bench: the first benchmarks.
//!
//! 1. The writer: group commit (many callers, one transaction per batch)
//!    against a plain loop of one transaction per write, on the same kind of
//!    file with the same schema and pragmas.
//! 2. HTTP: authenticated feed reads and likes through the full stack
//!    (a real `kith` process, real sessions) at fixed concurrency.
//! 3. Realtime: chat messages over WebSocket between pairs of friends
//!    (throughput and send→receive latency), and memory per idle WebSocket
//!    connection and per idle WebTransport session (`--only idle-wt`).
//! 4. Jobs: queue throughput, and the API while a transcode runs.
//! 5. Cluster: three nodes on loopback; forwarded against local writes,
//!    cross-node chat, presence convergence after a node is killed.
//!    (`--only revocation`: a revoked session's socket on another node.)
//! 7. Photos: the image pipeline, upload to ready, the API while photos
//!    are processed, memory while a 2 GiB upload streams.
//! 8. Live counts: one post on 1,000 screens while it is liked 100 times
//!    a second (`--only live`).
//! 9. Coming back: one `resume` after 50 conversations moved on, against a
//!    `sync` per conversation (`--only resume`).
//! 10. Web Push: from an event to the push service, pushes per second and
//!     CPU per push (`--only push`).
//! 11. wrk: feed reads and likes of 1,000 users with 10 friends each,
//!     driven by wrk (`--only wrk`).
//! 12. The side-by-side's kith chat row alone, on two nodes, for profiling
//!     it (`--only chat-cluster`).
//! 6. Soak (`--soak`, on its own): 2,000 users connected over WebSocket
//!    for 10 minutes under a mixed, realistic load; memory must stay flat
//!    and nothing may fail.
//! 11. Capacity (`--capacity`, on its own): 10,000 users connected for
//!     5 minutes at human rates, then more a step at a time until the API's
//!     p99 passes 100 ms or something fails.
//!
//! Run through `bench/run.sh`, which builds in release mode first. Prints a
//! Markdown report on stdout.

mod capacity;
mod cluster;
mod compare;
mod http;
mod jobs;
mod link;
mod live;
mod peer;
mod photos;
mod push;
mod realtime;
mod resume;
mod server;
mod soak;
mod writer;
mod wrk;

use std::path::PathBuf;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Settings from the command line.
pub struct Opts {
    pub kith_bin: PathBuf,
    /// Measured time per HTTP scenario.
    pub duration: Duration,
    pub concurrency: usize,
    /// Measured time per writer scenario.
    pub writer_duration: Duration,
    /// Realtime chat: pairs of users, one sender per pair.
    pub pairs: usize,
    /// Realtime chat: messages per second offered by each sender.
    pub rate: f64,
    /// Run one scenario only (see `--only` in the usage line).
    pub only: Option<String>,
    /// Realtime fan-out: group conversations of 10, one sender each.
    pub groups: usize,
    /// Realtime: idle WebSocket connections for the memory measurement.
    pub idle: usize,
    /// The comparison peer's directory (`bench/peer`): run its side too.
    pub peer: Option<PathBuf>,
    /// CPUs (a `taskset -c` list) for the servers of both sides; the load
    /// generator is pinned elsewhere by `bench/run.sh`.
    pub server_cpus: Option<String>,
    /// The whole side-by-side comparison against this peer directory.
    pub compare: Option<PathBuf>,
    /// Runs of the comparison; figures are their medians.
    pub runs: usize,
    /// Internal: run the queue benchmark with this many workers and print
    /// `jobs_per_s=…` (the comparison runs it pinned in its own process).
    pub queue_child: Option<usize>,
    /// Run the soak (and nothing else).
    pub soak: bool,
    /// Soak: length of the load, and the first part of it left out of the
    /// latencies and the memory slope.
    pub soak_duration: Duration,
    pub soak_warmup: Duration,
    /// Soak: connected users (rounded down to whole friend circles).
    pub soak_users: usize,
    /// Run the capacity benchmark (and nothing else).
    pub capacity: bool,
    /// Capacity: users at the first step (rounded down to whole friend
    /// circles), how long it is held, how long each later step is held, and
    /// the user count not to go beyond.
    pub capacity_users: usize,
    pub capacity_duration: Duration,
    pub capacity_step_duration: Duration,
    pub capacity_max: usize,
    /// Capacity users over WebSocket at most (the rest over WebTransport);
    /// the open-file limit may cut it further.
    pub capacity_ws_max: usize,
    /// Start servers with the production per-user limits on writes and
    /// realtime sends (otherwise `--write-burst 0` turns them off).
    pub write_limits: bool,
}

fn parse() -> anyhow::Result<Opts> {
    let mut opts = Opts {
        kith_bin: PathBuf::from("target/release/kith"),
        duration: Duration::from_secs(8),
        concurrency: 32,
        writer_duration: Duration::from_secs(3),
        pairs: 200,
        rate: 10.0,
        idle: 10_000,
        groups: 230,
        only: None,
        peer: None,
        server_cpus: None,
        compare: None,
        runs: 3,
        queue_child: None,
        soak: false,
        soak_duration: Duration::from_secs(600),
        soak_warmup: Duration::from_secs(120),
        soak_users: 2000,
        capacity: false,
        capacity_users: 10_000,
        capacity_duration: Duration::from_secs(300),
        capacity_step_duration: Duration::from_secs(60),
        capacity_max: 100_000,
        capacity_ws_max: usize::MAX,
        write_limits: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--kith-bin" => opts.kith_bin = val()?.into(),
            "--seconds" => opts.duration = Duration::from_secs_f64(val()?.parse()?),
            "--concurrency" => opts.concurrency = val()?.parse()?,
            "--writer-seconds" => opts.writer_duration = Duration::from_secs_f64(val()?.parse()?),
            "--pairs" => opts.pairs = val()?.parse()?,
            "--rate" => opts.rate = val()?.parse()?,
            "--idle" => opts.idle = val()?.parse()?,
            "--groups" => opts.groups = val()?.parse()?,
            "--only" => opts.only = Some(val()?),
            "--peer" => opts.peer = Some(PathBuf::from(val()?)),
            "--server-cpus" => opts.server_cpus = Some(val()?),
            "--compare" => opts.compare = Some(PathBuf::from(val()?)),
            "--runs" => opts.runs = val()?.parse::<usize>()?.max(1),
            "--queue-child" => opts.queue_child = Some(val()?.parse()?),
            "--soak" => {
                opts.soak = true;
                opts.write_limits = true;
            }
            "--soak-seconds" => opts.soak_duration = Duration::from_secs_f64(val()?.parse()?),
            "--soak-warmup" => opts.soak_warmup = Duration::from_secs_f64(val()?.parse()?),
            "--soak-users" => opts.soak_users = val()?.parse()?,
            "--capacity" => {
                opts.capacity = true;
                opts.write_limits = true;
            }
            "--capacity-users" => opts.capacity_users = val()?.parse()?,
            "--capacity-seconds" => {
                opts.capacity_duration = Duration::from_secs_f64(val()?.parse()?)
            }
            "--capacity-step-seconds" => {
                opts.capacity_step_duration = Duration::from_secs_f64(val()?.parse()?)
            }
            "--capacity-max" => opts.capacity_max = val()?.parse()?,
            "--capacity-ws-max" => opts.capacity_ws_max = val()?.parse()?,
            other => anyhow::bail!(
                "unknown argument {other}; use --kith-bin PATH --seconds S --concurrency N --writer-seconds S --pairs N --groups N --rate R --idle N --only writer|http|realtime|idle|idle-wt|jobs|cluster|photos|live|resume|push|wrk|chat-cluster --peer DIR --server-cpus LIST --compare DIR --runs N --soak --soak-seconds S --soak-warmup S --soak-users N --capacity --capacity-users N --capacity-seconds S --capacity-step-seconds S --capacity-max N --capacity-ws-max N"
            ),
        }
    }
    Ok(opts)
}

/// Formats a latency histogram's percentile (µs) as milliseconds.
pub fn ms(h: &Histogram<u64>, q: f64) -> String {
    format!("{:.2}", h.value_at_quantile(q) as f64 / 1000.0)
}

fn machine() -> String {
    // All the machine's cores, not only those this process is pinned to.
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = info.lines().filter(|l| l.starts_with("processor")).count();
    let cpu = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(String::new, |kib| {
            format!(", {:.0} GiB", kib as f64 / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {cpu}{mem}, Linux {}", kernel.trim())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // libSQL's engine first: the raw SQLite runs (rusqlite) would otherwise
    // initialize it before libsql, whose first open then refuses it.
    kith::db::engine::init();
    let opts = parse()?;
    if let Some(workers) = opts.queue_child {
        println!("jobs_per_s={:.0}", jobs::queue_rate(workers).await?);
        return Ok(());
    }
    println!("# kith benchmark\n");
    println!(
        "machine: {}; kith {}; SQLite {}\n",
        machine(),
        env!("CARGO_PKG_VERSION"),
        writer::sqlite_version()
    );
    if let Some(dir) = &opts.compare {
        return compare::run(&opts, dir).await;
    }
    if opts.soak {
        return soak::run(&opts).await;
    }
    if opts.capacity {
        return capacity::run(&opts).await;
    }
    let want = |name: &str| opts.only.as_deref().is_none_or(|o| o == name);
    if want("writer") {
        writer::run(&opts).await?;
    }
    if want("http") {
        http::run(&opts).await?;
    }
    if want("realtime") {
        realtime::run(&opts).await?;
    }
    if opts.only.as_deref() == Some("idle") {
        realtime::idle(&opts).await?;
    }
    if opts.only.as_deref() == Some("idle-wt") {
        realtime::idle_webtransport(&opts).await?;
    }
    if want("jobs") {
        jobs::run(&opts).await?;
    }
    if want("cluster") {
        cluster::run(&opts).await?;
    }
    if opts.only.as_deref() == Some("revocation") {
        cluster::revocation_only(&opts).await?;
    }
    if want("photos") {
        photos::run(&opts).await?;
    }
    if want("live") {
        live::run(&opts).await?;
    }
    if want("resume") {
        resume::run(&opts).await?;
    }
    if want("push") {
        push::run(&opts).await?;
    }
    if opts.only.as_deref() == Some("chat-cluster") {
        compare::kith_chat(&opts).await?;
    }
    if opts.only.as_deref() == Some("wrk") {
        wrk::run(&opts).await?;
    }
    Ok(())
}
