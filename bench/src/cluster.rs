//! Three kith nodes on loopback (127.0.0.1–3) sharing one database file:
//! node0 the primary, node1 and node2 replicas forwarding their writes.
//!
//! 1. Forwarded write latency against a local write: one client, sequential
//!    like/unlike requests on the primary and on a replica.
//! 2. Cross-node chat: senders connected to node1, members to node2, so
//!    every send is forwarded to the primary and every delivery crosses
//!    from node1 to node2.
//! 3. Revocation: a session ended on one node; how long until its socket
//!    on another node is closed.
//! 4. Presence convergence: a user's node is killed (SIGKILL); how long
//!    until friends connected to the other two nodes see them offline.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::link::Ws;
use crate::realtime::{ChatSpec, Proto, chat_on, connect, signup};
use crate::server::{Server, call};
use crate::{Opts, ms};

const SECRET: &str = "kith benchmark cluster secret";
/// Sequential requests per side in the write-latency scenario.
const WRITES: usize = 2000;
/// Runs of each chat row; the one with the median p99 is shown.
const RUNS: usize = 3;

pub struct Cluster {
    pub nodes: Vec<Server>,
    _dir: tempfile::TempDir,
}

/// Starts `count` nodes on 127.0.0.1, 127.0.0.2, …: the first the primary,
/// the others replicas; returns once each hears from all the others.
pub async fn start(opts: &Opts, count: u8) -> anyhow::Result<Cluster> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("kith.db");
    let media = dir.path().join("media");
    let mut nodes = Vec::new();
    for i in 0..count {
        let ip = [127, 0, 0, 1 + i];
        let udp = std::net::UdpSocket::bind((std::net::Ipv4Addr::from(ip), 0))?.local_addr()?;
        let data = dir.path().join(format!("node{i}"));
        let name = format!("node{i}");
        let (db, media, udp) = (
            db.display().to_string(),
            media.display().to_string(),
            udp.to_string(),
        );
        let role = if i == 0 { "primary" } else { "replica" };
        let args = [
            "--db",
            db.as_str(),
            "--media-dir",
            media.as_str(),
            "--cluster-listen",
            udp.as_str(),
            "--cluster-secret",
            SECRET,
            "--role",
            role,
            "--node-name",
            name.as_str(),
            "--no-webtransport",
            "--workers",
            "0",
        ];
        nodes.push(Server::spawn(opts, ip, &data, &args).await?);
    }
    // Wait until every node hears from all the others.
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for n in &nodes {
        loop {
            let h: Value = c
                .get(format!("{}/healthz", n.base))
                .send()
                .await?
                .json()
                .await?;
            if h["members"].as_array().map_or(0, Vec::len) >= usize::from(count - 1) {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the cluster did not converge");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(Cluster { nodes, _dir: dir })
}

/// Sequential like/unlike on `node`: the latency of one write through the
/// whole HTTP stack.
async fn write_latency(
    c: &reqwest::Client,
    node: &str,
    cookie: &str,
    post: &str,
    n: usize,
) -> anyhow::Result<Histogram<u64>> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let url = format!("{node}/api/posts/{post}/like");
    for i in 0..n {
        let method = if i % 2 == 0 {
            Method::PUT
        } else {
            Method::DELETE
        };
        let t = Instant::now();
        call(c, method, url.clone(), Some(cookie), None).await?;
        h.record(t.elapsed().as_micros().max(1) as u64)?;
    }
    Ok(h)
}

/// Mean of the replica's own forwarded-write histogram on `/metrics`.
async fn forwarded_mean_ms(c: &reqwest::Client, node: &str) -> anyhow::Result<f64> {
    let text = c
        .get(format!("{node}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let get = |name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    let sum = get("kith_forwarded_write_seconds_sum ").context("no forwarded sum")?;
    let count = get("kith_forwarded_write_seconds_count ").context("no forwarded count")?;
    Ok(if count > 0.0 {
        sum / count * 1000.0
    } else {
        0.0
    })
}

async fn writes(cluster: &Cluster) -> anyhow::Result<()> {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let (primary, replica) = (&cluster.nodes[0].base, &cluster.nodes[1].base);
    let cookie = signup(&c, primary, &["writer".to_string()])
        .await?
        .remove(0);
    let post = call(
        &c,
        Method::POST,
        format!("{primary}/api/posts"),
        Some(&cookie),
        Some(json!({"body": "like me", "visibility": "public"})),
    )
    .await?;
    let post = post["post"]["id"].as_str().context("post id")?.to_string();
    // Warm up both paths, then take the median (by p50) of RUNS runs,
    // alternating sides so both see the same machine.
    write_latency(&c, primary, &cookie, &post, 200).await?;
    write_latency(&c, replica, &cookie, &post, 200).await?;
    let mut locals = Vec::new();
    let mut forwardeds = Vec::new();
    for _ in 0..RUNS {
        locals.push(write_latency(&c, primary, &cookie, &post, WRITES).await?);
        forwardeds.push(write_latency(&c, replica, &cookie, &post, WRITES).await?);
    }
    let median = |mut v: Vec<Histogram<u64>>| {
        v.sort_by_key(|h| h.value_at_quantile(0.5));
        v.swap_remove(v.len() / 2)
    };
    let local = median(locals);
    let forwarded = median(forwardeds);
    let inner = forwarded_mean_ms(&c, replica).await?;
    println!("## Cluster: a forwarded write against a local write\n");
    println!(
        "Three kith nodes (release build) on 127.0.0.1–3 sharing one database file; node0 is the primary, node1 a replica that forwards every write to it over iroh (QUIC on loopback) and answers once its copy shows the commit. One client, {WRITES} sequential requests per run alternating `PUT` and `DELETE /api/posts/{{id}}/like` (each a write, committed with `synchronous=FULL`), through the full HTTP stack; after 200 warm-up requests on each side, {RUNS} runs per side, alternating, and the run with the median p50 is shown.\n"
    );
    println!("| written through | p50 ms | p90 ms | p99 ms |");
    println!("|---|---|---|---|");
    for (name, h) in [
        ("the primary (local writer)", &local),
        ("a replica (forwarded)", &forwarded),
    ] {
        println!(
            "| {name} | {} | {} | {} |",
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99)
        );
    }
    let added =
        (forwarded.value_at_quantile(0.5) as f64 - local.value_at_quantile(0.5) as f64) / 1000.0;
    println!(
        "\nForwarding adds {added:.2} ms at the median. The replica's own histogram (`kith_forwarded_write_seconds` on /metrics: from handing the command to the link until the reply, commit included) averages {inner:.2} ms.\n"
    );
    Ok(())
}

async fn chat(opts: &Opts, cluster: &Cluster) -> anyhow::Result<()> {
    let api = &cluster.nodes[0].base;
    let send = std::slice::from_ref(&cluster.nodes[1].base);
    let recv = std::slice::from_ref(&cluster.nodes[2].base);
    println!("## Cluster: chat between nodes\n");
    println!(
        "The same three nodes. Senders' WebSockets on node1, members' on node2: each send is forwarded from node1 to the primary (node0) and stored before it is acked, and node1 sends each message to node2 on its ordered delivery stream (kith's protocol on iroh, QUIC). The first row keeps the members on node1 too: forwarding without delivery between nodes. Each sender sends {} msgs/s; {:.0} s measured after 1 s warm-up; latency from just before the send frame is written to when a member on the other node reads the message. Each row is the run with the median p99 of {RUNS}. Everything, load generator included, shares the 2 cores.\n",
        opts.rate,
        opts.duration.as_secs_f64()
    );
    println!(
        "| conversations × members | connections | sends/s offered | deliveries/s offered | delivered msgs/s | p50 ms | p99 ms | rate-limited | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // About 1,000 deliveries/s: direct conversations. First with members
    // on the senders' node (forwarding only, no delivery between nodes),
    // then across; then about 10,000 deliveries/s in conversations of 10.
    let pairs = (1000.0 / opts.rate).round() as usize;
    let groups = (10_000.0 / opts.rate / 9.0).ceil() as usize;
    let rows = [
        (send, pairs, 2, ", members on the senders' node"),
        (recv, pairs, 2, ""),
        (recv, groups, 10, ""),
    ];
    for (members_on, n, size, note) in rows {
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            runs.push(
                chat_on(
                    opts,
                    api,
                    send,
                    members_on,
                    ChatSpec {
                        groups: n,
                        size,
                        conns_per_sender: 1,
                        proto: Proto::Kith,
                    },
                    &[],
                )
                .await?,
            );
        }
        runs.sort_by_key(|r| r.p99_us);
        let median = &runs[runs.len() / 2];
        println!("{}", median.text.replacen(" |", &format!("{note} |"), 1));
    }
    println!();
    Ok(())
}

/// Sessions revoked in the revocation scenario.
const REVOCATIONS: usize = 30;

/// Signs `name` in on `base`; the new session's cookie.
async fn login(c: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let res = c
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": name, "password": "bench-password"}))
        .send()
        .await?;
    anyhow::ensure!(res.status().is_success(), "login {name}: {}", res.status());
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("kith="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .context("no kith session cookie")
}

/// Reads until the server closes the socket.
async fn until_closed(mut ws: Ws, limit: Duration) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.ok()? {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Some(Instant::now()),
            Some(Ok(_)) => continue,
        }
    }
}

/// A session signed in on node2 with its socket open there, revoked from
/// another session on node1: the time from the revoking request's start
/// to the socket's close frame.
async fn revocation(cluster: &Cluster) -> anyhow::Result<()> {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let (on1, on2) = (&cluster.nodes[1].base, &cluster.nodes[2].base);
    let name = "revoker".to_string();
    let cookies = signup(&c, on1, std::slice::from_ref(&name)).await?;
    let mut hist = Histogram::<u64>::new(3)?;
    for _ in 0..REVOCATIONS {
        let other = login(&c, on2, &name).await?;
        let listed = call(
            &c,
            Method::GET,
            format!("{on2}/api/me/sessions"),
            Some(&other),
            None,
        )
        .await?;
        let id = listed["sessions"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["current"] == true))
            .and_then(|s| s["id"].as_str())
            .context("the current session")?
            .to_owned();
        let ws = connect(on2, &other).await?;
        let closed = tokio::spawn(until_closed(ws, Duration::from_secs(30)));
        let started = Instant::now();
        call(
            &c,
            Method::DELETE,
            format!("{on1}/api/me/sessions/{id}"),
            Some(&cookies[0]),
            None,
        )
        .await?;
        let at = closed.await?.context("the socket was never closed")?;
        hist.record((at - started).as_micros() as u64)?;
    }
    println!(
        "## Cluster: a revoked session's socket on another node
"
    );
    println!(
        "A session on node2 with its WebSocket open there is revoked (`DELETE /api/me/sessions/{{id}}`) from another session of the account on node1: the write is forwarded to the primary, its trigger logs the ended session, and node2's watcher (every {} ms) closes the socket. Time from the revoking request's start to the close frame, {REVOCATIONS} revocations. Target: within 1 s.\n",
        kith::auth::ended::WATCH_EVERY.as_millis()
    );
    println!("| p50 ms | p99 ms | max ms |");
    println!("|---|---|---|");
    println!(
        "| {} | {} | {} |\n",
        ms(&hist, 0.5),
        ms(&hist, 0.99),
        ms(&hist, 1.0)
    );
    Ok(())
}

/// Reads until a presence frame says `user` is offline.
async fn until_offline(mut ws: Ws, user: &str, limit: Duration) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        if let Ok(Message::Text(t)) = m {
            let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
            if v["type"] == "presence" && v["user"] == user && v["status"] == "offline" {
                return Some(Instant::now());
            }
        }
    }
}

async fn presence(mut cluster: Cluster) -> anyhow::Result<()> {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let api = cluster.nodes[0].base.clone();
    let names: Vec<String> = ["leaver", "watcher0", "watcher1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cookies = signup(&c, &api, &names).await?;
    for w in 1..3 {
        let r = call(
            &c,
            Method::POST,
            format!("{api}/api/friends/requests"),
            Some(&cookies[0]),
            Some(json!({"username": names[w]})),
        )
        .await?;
        let id = r["id"].as_str().context("request id")?;
        call(
            &c,
            Method::POST,
            format!("{api}/api/friends/requests/{id}/accept"),
            Some(&cookies[w]),
            None,
        )
        .await?;
    }
    let w0 = connect(&cluster.nodes[0].base, &cookies[1]).await?;
    let w1 = connect(&cluster.nodes[1].base, &cookies[2]).await?;
    let _leaver = connect(&cluster.nodes[2].base, &cookies[0]).await?;
    // Let the heartbeats carry the leaver's presence everywhere.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let limit = Duration::from_secs(30);
    let a = tokio::spawn(until_offline(w0, "leaver", limit));
    let b = tokio::spawn(until_offline(w1, "leaver", limit));
    let killed = Instant::now();
    cluster.nodes[2].kill().await;
    let a = a.await?.context("node0 never saw the leaver go offline")?;
    let b = b.await?.context("node1 never saw the leaver go offline")?;
    println!("## Cluster: presence after a node is killed\n");
    println!(
        "A user connected to node2, with friends connected to node0 and node1. node2 is killed with SIGKILL (no goodbye); each other node drops it after {} s without a heartbeat (sent every {} s), then waits the {} s offline grace before telling friends. Target: offline everywhere within 15 s.\n",
        kith::cluster::NODE_TTL.as_secs(),
        kith::cluster::HEARTBEAT_EVERY.as_secs(),
        kith::presence::OFFLINE_GRACE.as_secs()
    );
    println!("| friend on | offline seen after s |");
    println!("|---|---|");
    println!("| node0 (primary) | {:.1} |", (a - killed).as_secs_f64());
    println!("| node1 (replica) | {:.1} |", (b - killed).as_secs_f64());
    println!();
    for n in cluster.nodes.drain(..) {
        n.stop().await;
    }
    Ok(())
}

/// The revocation scenario on its own (`--only revocation`).
pub async fn revocation_only(opts: &Opts) -> anyhow::Result<()> {
    let mut cluster = start(opts, 3).await?;
    revocation(&cluster).await?;
    for n in cluster.nodes.drain(..) {
        n.stop().await;
    }
    Ok(())
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    let cluster = start(opts, 3).await?;
    writes(&cluster).await?;
    chat(opts, &cluster).await?;
    revocation(&cluster).await?;
    presence(cluster).await?;
    Ok(())
}
