//! Capacity: how many connected users one kith node holds on this machine
//! (load generator included) within its limits.
//!
//! The soak's users (friend circles, conversations, one socket task per
//! user, delivery checked by sequence number; see `soak.rs`) at the rates
//! of [`Rates::capacity`]: per user a chat message a minute (after a typing
//! frame), read receipts, a feed read every 5 minutes, a like every 2
//! minutes, an application ping every 20 s, 1% of the users reconnecting
//! each minute. First `--capacity-users` (10,000) users for
//! `--capacity-seconds` (300); then as many again at a time, each step
//! held `--capacity-step-seconds` (60), until a step breaks a limit or
//! `--capacity-max` is reached. The limits: API p99 at most
//! [`API_P99_LIMIT_US`], no errors, every acknowledged message delivered.
//!
//! Users come a cohort at a time: each step's users are signed up and
//! befriended in circles of their own before any load starts (sign-up is
//! the slow part: Argon2, 19 MiB and tens of ms of a server core each),
//! then a step connects its cohort while the users already there keep
//! their load going.
//!
//! Each user holds one realtime link: a WebSocket while the open-file
//! limit leaves a descriptor for it on each side ([`within_open_files`]),
//! a WebTransport session after that (as the web client connects where
//! the server offers it), which holds none.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;

use crate::server::{Server, rss_of};
use crate::soak::{CIRCLE, Cohort, GRACE, Kind, Rates, Run, cpu_total, per_min};
use crate::{Opts, ms};

/// The API p99 a step may reach and still count.
const API_P99_LIMIT_US: u64 = 100_000;
/// Source addresses for the sockets, 127.0.0.2 and on. One address has the
/// 28,232 ports of `ip_local_port_range` (32768–60999) towards the
/// server's one port; 16 give 450,000, room for 100,000 sockets and the
/// TIME_WAIT of their reconnects.
const SOURCES: u8 = 16;
/// Between a step's sockets opening and its window: one ping period, so
/// that every new socket has pinged and chatted before it is measured.
const SETTLE: Duration = Duration::from_secs(20);
/// Progress lines on stderr while a step is held.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

impl Rates {
    /// The capacity load, per user: a feed read every 5 minutes, a like
    /// every 2, a chat message a minute, and 1% of the users reconnecting
    /// a minute, in rounds every 5 s (not a burst of 100 at once for
    /// 10,000 users). For 10,000 users: 33 feed reads, 83 likes and 167
    /// messages a second, 8.3 reconnects every 5 s.
    pub fn capacity() -> Rates {
        Rates {
            http: vec![(Kind::Feed, per_min(1.0 / 5.0)), (Kind::Like, per_min(0.5))],
            chat: per_min(1.0),
            churn_every: Duration::from_secs(5),
            churn_fraction: 0.01 / 12.0,
        }
    }
}

/// The user counts to hold, in order: `base`, then `base` more at a time
/// up to `max` (the last step cut to it), each rounded down to whole
/// friend circles.
pub fn steps(base: usize, max: usize) -> Vec<usize> {
    let circles = |n: usize| n / CIRCLE * CIRCLE;
    let mut out = vec![circles(base)];
    let mut next = base;
    while next < max {
        next = (next + base).min(max);
        let n = circles(next);
        if out.last().is_some_and(|&l| n > l) {
            out.push(n);
        }
    }
    out
}

/// The step a moment (µs since the run's epoch) belongs to: the first
/// whose end is not before it, or the last.
fn step_of(ends: &[u64], at: u64) -> usize {
    ends.iter()
        .position(|&e| at <= e)
        .unwrap_or(ends.len().saturating_sub(1))
}

/// One step's figures.
#[derive(Clone, Debug)]
struct StepFigures {
    users: usize,
    api: Histogram<u64>,
    requests: u64,
    delivery: Histogram<u64>,
    messages: u64,
    rss_kib: u64,
    cpu_cores: f64,
    /// The load generator's own CPU over the window: near 1.0, its one
    /// core, not the server, may be what the step measured.
    gen_cpu_cores: f64,
    errors: u64,
    failed_sockets: usize,
    setup_secs: f64,
    open_secs: f64,
}

impl StepFigures {
    fn within_limits(&self) -> bool {
        self.api.value_at_quantile(0.99) <= API_P99_LIMIT_US
            && self.errors == 0
            && self.failed_sockets == 0
    }
}

/// The most users held within the limits: the last step of the unbroken
/// run of good steps from the first; 0 if the first broke a limit.
fn capacity_of(steps: &[StepFigures]) -> usize {
    steps
        .iter()
        .take_while(|s| s.within_limits())
        .last()
        .map_or(0, |s| s.users)
}

/// Sleeps `hold`, printing the server's memory and the sockets open.
async fn hold(run: &Run, pid: u32, users: usize, hold: Duration) {
    let end = Instant::now() + hold;
    while Instant::now() < end {
        tokio::time::sleep(PROGRESS_EVERY.min(end - Instant::now())).await;
        eprintln!(
            "capacity users={users} rss={:.1}MiB sockets={} in-flight={} errors={}",
            rss_of(pid).unwrap_or(0) as f64 / 1024.0,
            run.connected.load(std::sync::atomic::Ordering::Relaxed),
            run.inflight.load(std::sync::atomic::Ordering::Relaxed),
            run.noted()
        );
    }
}

/// Descriptors the server and the load generator each keep besides one
/// socket per user (database files, listeners, the cluster endpoint,
/// sockets of users reconnecting), with room to spare: the server holds
/// about 60.
const OTHER_FILES: u64 = 1000;

/// The most users a run can connect over WebSocket with `limit` open
/// files per process (each side holds a socket per user), up to `max`.
/// Past it sockets fail to open ("Too many open files") and their users'
/// reconnects pile up, which measures the machine, not kith: the users
/// after it connect over WebTransport, whose sessions share one UDP
/// socket on each side.
fn within_open_files(max: usize, limit: Option<u64>) -> usize {
    match limit {
        Some(l) => max.min(usize::try_from(l.saturating_sub(OTHER_FILES)).unwrap_or(usize::MAX)),
        None => max,
    }
}

/// The soft limit on open files of this process (the server inherits the
/// same from `bench/run.sh`).
fn open_files_limit() -> Option<u64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.capacity_users >= 3 * CIRCLE,
        "--capacity-users must be at least {}",
        3 * CIRCLE
    );
    let limit = open_files_limit();
    let budget = within_open_files(opts.capacity_max, limit);
    let ws_users = budget.min(opts.capacity_ws_max);
    let max = opts.capacity_max;
    if ws_users < max {
        eprintln!(
            "capacity: open files limited to {} (raise it with ulimit -n, as bench/run.sh --capacity does where the machine allows): users past {ws_users} connect over WebTransport",
            limit.unwrap_or(0)
        );
    }
    let targets = steps(opts.capacity_users, max);
    let rates = Rates::capacity();
    let wt = targets.last().is_some_and(|&n| n > ws_users);
    let server = Server::start(opts, if wt { &[] } else { &["--no-webtransport"] }).await?;
    let result = measure(opts, &server, &rates, &targets, ws_users).await;
    server.stop().await;
    let (figs, errors) = result?;

    let first = figs.first().context("no step was measured")?;
    let n0 = first.users;
    println!(
        "## Capacity: connected users on one node\n\nOne kith process (release build, `{}--no-auth-limits`, the production per-user limits left on) on a fresh data dir, on loopback, the load generator on the same machine with its sockets spread over {SOURCES} source addresses. Users in friend circles of {CIRCLE}, each in two direct conversations and a group of {CIRCLE}, each with a realtime link opened as the web client does: a WebSocket (`GET /api/realtime/config`, then `/ws` with the session cookie) for the first {}, a WebTransport session (the config, `POST /api/realtime/ticket`, then `/wt` trusting the published certificate hash) for every user after. Per user: a chat message every {:.0} s (after a typing frame), read receipts, a feed read every {:.0} s, a like toggled every {:.0} s, an application ping every {} s, {:.0}% of the users reconnecting a minute. {n0} users held {:.0} s, then {} more at a time, {:.0} s each, until API p99 > {} ms, an error, or {} users. Each window starts {} s after its new users' sockets are open (requests: those answered in the window and the {} s after it); API latencies are of every request (feed, like, and on reconnect the realtime config and a WebTransport ticket); delivery is send → another member reads it; server CPU is user + system over the window.\n",
        if wt { "" } else { "--no-webtransport " },
        if ws_users < max {
            format!(
                "{ws_users} users (what this machine's open-file limit, {}, allows each process with {OTHER_FILES} to spare: each side holds a descriptor per WebSocket and none per WebTransport session)",
                limit.unwrap_or(0)
            )
        } else {
            format!("{max} users (all of them)")
        },
        1.0 / rates.chat,
        1.0 / rates.http[0].1,
        1.0 / rates.http[1].1,
        crate::soak::PING_EVERY.as_secs(),
        rates.churn_fraction * 100.0 * 60.0 / rates.churn_every.as_secs_f64(),
        opts.capacity_duration.as_secs_f64(),
        opts.capacity_users,
        opts.capacity_step_duration.as_secs_f64(),
        API_P99_LIMIT_US / 1000,
        max,
        SETTLE.as_secs(),
        GRACE.as_secs(),
    );
    println!(
        "| users | over WebTransport | setup s | sockets open s | requests | API p50 ms | API p99 ms | messages | delivery p50 ms | delivery p99 ms | RSS MiB | server CPU (cores) | load generator CPU (cores) | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for f in &figs {
        println!(
            "| {} | {} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {}{} |",
            f.users,
            f.users.saturating_sub(ws_users),
            f.setup_secs,
            f.open_secs,
            f.requests,
            ms(&f.api, 0.5),
            ms(&f.api, 0.99),
            f.messages,
            ms(&f.delivery, 0.5),
            ms(&f.delivery, 0.99),
            f.rss_kib as f64 / 1024.0,
            f.cpu_cores,
            f.gen_cpu_cores,
            f.errors,
            if f.failed_sockets > 0 {
                format!(" ({} sockets failed)", f.failed_sockets)
            } else {
                String::new()
            }
        );
    }
    println!();
    for e in &errors {
        println!("- {e}");
    }
    if !errors.is_empty() {
        println!();
    }
    println!(
        "CAPACITY users={} api_p99_ms={} delivery_p99_ms={} rss_mib={:.1} server_cpu_cores={:.2}",
        capacity_of(&figs),
        ms(&first.api, 0.99),
        ms(&first.delivery, 0.99),
        first.rss_kib as f64 / 1024.0,
        first.cpu_cores
    );
    Ok(())
}

/// Runs the steps; hands back their figures and the first errors noted.
async fn measure(
    opts: &Opts,
    server: &Server,
    rates: &Rates,
    targets: &[usize],
    ws_users: usize,
) -> anyhow::Result<(Vec<StepFigures>, Vec<String>)> {
    let pid = server.pid().context("kith has exited")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let sources = (2..2 + SOURCES)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect();
    let run = Arc::new(Run::new("capacity", rates.clone(), sources).webtransport_from(ws_users));
    let mut cohorts: Vec<Cohort> = Vec::new();
    let mut drivers = Vec::new();
    let mut figs: Vec<StepFigures> = Vec::new();
    // Each step's window end (µs since the epoch): errors found at the end
    // (missing deliveries, sends never acked) go to the step they began in.
    let mut ends = Vec::new();
    // Every step's users are set up before any load starts: sign-up is an
    // Argon2 hash (tens of ms of the server's one core each), and 10,000
    // of them while 30,000 users were connected held the core at 94% for
    // 6 minutes, a load no real node sees and no step measures.
    let mut ready = Vec::new();
    let mut first = 0;
    for &users in targets {
        eprintln!("capacity: setting up users {first}..{users}");
        match Cohort::setup(
            run.clone(),
            &server.base,
            client.clone(),
            first,
            users - first,
        )
        .await
        {
            Ok(c) => ready.push(c),
            Err(e) => {
                // The server could not take more users: the steps end.
                run.note(format!("setting up users {first}..{users}: {e:#}"));
                break;
            }
        }
        first = users;
    }
    let mut noted = run.noted();
    for (k, (mut cohort, &users)) in ready.into_iter().zip(targets).enumerate() {
        cohort.open().await;
        if k == 0 {
            run.start(SETTLE);
        }
        let (d, churner) = cohort.drive();
        drivers.extend(d);
        drivers.push(tokio::spawn(async move {
            let _ = churner.await;
        }));
        let (failed_sockets, setup_secs, open_secs) =
            (cohort.failed, cohort.setup_secs, cohort.open_secs);
        cohorts.push(cohort);
        tokio::time::sleep(SETTLE).await;

        let held = if k == 0 {
            opts.capacity_duration
        } else {
            opts.capacity_step_duration
        };
        run.open_window();
        let me = std::process::id();
        let (cpu0, gen0, t0) = (cpu_total(pid), cpu_total(me), Instant::now());
        hold(&run, pid, users, held).await;
        let secs = t0.elapsed().as_secs_f64();
        let cpu_cores = (cpu_total(pid) - cpu0) / secs;
        let gen_cpu_cores = (cpu_total(me) - gen0) / secs;
        let rss_kib = rss_of(pid)?;
        ends.push(run.now_us());
        let w = run.close_window(GRACE).await;
        let mut api = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
        let mut requests = 0;
        for s in &w.http {
            api.add(&s.hist)?;
            requests += s.count;
        }
        let f = StepFigures {
            users,
            api,
            requests,
            messages: w.ack.len(),
            delivery: w.delivery,
            rss_kib,
            cpu_cores,
            gen_cpu_cores,
            errors: run.noted() - noted,
            failed_sockets,
            setup_secs,
            open_secs,
        };
        noted = run.noted();
        eprintln!(
            "capacity: {users} users: API p99 {} ms, delivery p99 {} ms, RSS {:.1} MiB, CPU {:.2}, load generator CPU {:.2}, errors {}",
            ms(&f.api, 0.99),
            ms(&f.delivery, 0.99),
            f.rss_kib as f64 / 1024.0,
            f.cpu_cores,
            f.gen_cpu_cores,
            f.errors
        );
        let good = f.within_limits();
        figs.push(f);
        if !good {
            break;
        }
    }

    run.end_at(Instant::now());
    for d in drivers {
        d.await?;
    }
    Cohort::quiesce(&cohorts).await;
    let late = run.noted() - noted;
    if let Some(last) = figs.last_mut() {
        // Errors while the load wound down belong to the last step.
        last.errors += late;
    }
    for c in cohorts {
        let out = c.finish().await;
        for at in out.missing.iter().chain(&out.unacked) {
            if let Some(f) = figs.get_mut(step_of(&ends, *at)) {
                f.errors += 1;
            }
        }
    }
    Ok((figs, run.errors()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(users: usize, p99_ms: u64, errors: u64) -> StepFigures {
        let mut api = empty();
        api.record(p99_ms * 1000).expect("record");
        StepFigures {
            users,
            api,
            requests: 1,
            delivery: empty(),
            messages: 0,
            rss_kib: 0,
            cpu_cores: 0.0,
            gen_cpu_cores: 0.0,
            errors,
            failed_sockets: 0,
            setup_secs: 0.0,
            open_secs: 0.0,
        }
    }

    fn empty() -> Histogram<u64> {
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram")
    }

    #[test]
    fn steps_rise_by_the_base_to_the_max_in_whole_circles() {
        assert_eq!(
            steps(10_000, 60_000),
            [10_000, 20_000, 30_000, 40_000, 50_000, 60_000]
        );
        assert_eq!(steps(1000, 3000), [1000, 2000, 3000]);
        // The last step is cut to the max, rounded down to circles of 8.
        assert_eq!(steps(1000, 2500), [1000, 2000, 2496]);
        // A base not a multiple of 8 rounds down; so do the steps.
        assert_eq!(steps(1001, 2002), [1000, 2000]);
        // A max at or below the base: the base alone.
        assert_eq!(steps(10_000, 10_000), [10_000]);
        assert_eq!(steps(10_000, 5_000), [10_000]);
        // A cut that rounds to the step before adds nothing.
        assert_eq!(steps(1000, 2004), [1000, 2000]);
    }

    #[test]
    fn websockets_stop_where_open_files_run_out() {
        // This machine's hard limit: users past 19,000 connect over
        // WebTransport.
        assert_eq!(within_open_files(100_000, Some(20_000)), 19_000);
        // A run smaller than the limit: all of them over WebSocket.
        assert_eq!(within_open_files(3_000, Some(20_000)), 3_000);
        // Enough descriptors, or none known: the max stands.
        assert_eq!(within_open_files(100_000, Some(1_048_576)), 100_000);
        assert_eq!(within_open_files(100_000, None), 100_000);
        // A limit below what the run needs at all: nothing left over.
        assert_eq!(within_open_files(100_000, Some(500)), 0);
    }

    #[test]
    fn errors_found_at_the_end_go_to_the_step_they_began_in() {
        let ends = [100, 200, 300];
        assert_eq!(step_of(&ends, 0), 0);
        assert_eq!(step_of(&ends, 100), 0);
        assert_eq!(step_of(&ends, 101), 1);
        assert_eq!(step_of(&ends, 300), 2);
        // While the load wound down: the last step.
        assert_eq!(step_of(&ends, 400), 2);
        assert_eq!(step_of(&[], 5), 0);
    }

    #[test]
    fn capacity_is_the_last_good_step_before_the_first_bad_one() {
        let good = |u| step(u, 20, 0);
        assert_eq!(capacity_of(&[good(10), good(20), good(30)]), 30);
        // p99 over 100 ms ends it.
        assert_eq!(capacity_of(&[good(10), good(20), step(30, 150, 0)]), 20);
        // So does an error, whatever the latency.
        assert_eq!(capacity_of(&[good(10), step(20, 5, 1), good(30)]), 10);
        // At the edge: the histogram keeps 3 significant digits, so 100 ms
        // reads back as up to 100.03 ms (over); 99 ms is within.
        assert_eq!(capacity_of(&[step(10, 99, 0)]), 10);
        assert_eq!(capacity_of(&[step(10, 101, 0)]), 0);
        assert_eq!(capacity_of(&[]), 0);
    }

    #[test]
    fn capacity_rates_are_the_per_user_load_asked_for() {
        let r = Rates::capacity();
        let per = |k: Kind| r.http.iter().find(|(kind, _)| *kind == k).map(|(_, x)| *x);
        // A feed read every 5 minutes, a like every 2, a message a minute.
        assert!((1.0 / per(Kind::Feed).expect("feed") - 300.0).abs() < 1e-9);
        assert!((1.0 / per(Kind::Like).expect("like") - 120.0).abs() < 1e-9);
        assert!((1.0 / r.chat - 60.0).abs() < 1e-9);
        // For 10,000 users: 116.7 requests a second.
        assert!((r.http_total(10_000) - 10_000.0 * (1.0 / 300.0 + 1.0 / 120.0)).abs() < 1e-6);
        // 1% of the users a minute: 100 of 10,000 over 12 rounds of 5 s.
        let a_minute = |n: usize| {
            let (mut total, mut owed) = (0, 0.0);
            for _ in 0..12 {
                let now;
                (now, owed) = r.churn_round(n, owed);
                total += now;
            }
            total
        };
        assert_eq!(a_minute(10_000), 100);
        // 1,000 users: 10 a minute, though each round is owed only 0.83.
        assert_eq!(a_minute(1000), 10);
    }
}
