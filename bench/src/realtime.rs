//! Realtime chat over WebSocket against a real kith process: message
//! throughput and send→receive latency, then memory per idle connection.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::server::{Server, call};
use crate::{Opts, ms};

const WARMUP: Duration = Duration::from_secs(1);
/// Time after the last send for in-flight messages to arrive.
const GRACE: Duration = Duration::from_secs(2);
/// Users whose cookies the idle connections share.
const IDLE_USERS: usize = 10;
/// Handshakes in flight at once while opening idle connections.
const CONNECT_CONCURRENCY: usize = 200;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Signups in flight at once (each is an Argon2 hash on the server).
const SIGNUP_CONCURRENCY: usize = 4;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Signs up `names` (bounded concurrency); returns each one's `kith=...` cookie.
pub async fn signup(
    c: &reqwest::Client,
    base: &str,
    names: &[String],
) -> anyhow::Result<Vec<String>> {
    let results: Vec<anyhow::Result<String>> = stream::iter(names.iter().cloned())
        .map(|name| {
            let c = c.clone();
            let url = format!("{base}/api/auth/signup");
            async move {
                let res = c
                    .post(url)
                    .json(&json!({"username": name, "password": "bench-password"}))
                    .send()
                    .await?;
                if !res.status().is_success() {
                    bail!("signup {name}: {}", res.status());
                }
                res.headers()
                    .get_all("set-cookie")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find(|v| v.starts_with("kith="))
                    .and_then(|v| v.split(';').next())
                    .map(str::to_string)
                    .context("no kith session cookie")
            }
        })
        .buffered(SIGNUP_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Opens a WebSocket with the session cookie and reads until the hello.
pub async fn connect(base: &str, cookie: &str) -> anyhow::Result<Ws> {
    let host = base.trim_start_matches("http://");
    let mut req = format!("ws://{host}/ws").into_client_request()?;
    req.headers_mut().insert("cookie", cookie.parse()?);
    req.headers_mut().insert("origin", base.parse()?);
    let (mut ws, _) = connect_async(req).await?;
    loop {
        match ws.next().await.context("closed before hello")?? {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] == "hello" {
                    return Ok(ws);
                }
            }
            Message::Close(_) => bail!("closed before hello"),
            _ => {}
        }
    }
}

#[derive(Default)]
struct SendStats {
    offered: u64,
    acks: u64,
    errors: u64,
    rate_limited: u64,
}

/// Sends `rate` msgs/s from `start` until `end`, then reads replies for `GRACE`.
async fn sender(
    mut ws: Ws,
    pair: usize,
    conversation: String,
    rate: f64,
    epoch: Instant,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<SendStats> {
    let mut stats = SendStats::default();
    // Stagger the senders' phases so sends do not all land on the same tick.
    let period = Duration::from_secs_f64(1.0 / rate);
    let phase = period.mul_f64((pair % 100) as f64 / 100.0);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop_reading = tokio::time::Instant::from_std(end + GRACE);
    let mut i = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick(), if Instant::now() < end => {
                let now = Instant::now();
                if now >= end {
                    continue;
                }
                let t = now.duration_since(epoch).as_micros();
                let frame = json!({
                    "type": "send",
                    "conversation_id": conversation,
                    "client_msg_id": format!("p{pair}-{i}"),
                    "body": format!("t={t}"),
                });
                i += 1;
                if now >= measure_from {
                    stats.offered += 1;
                }
                if ws.send(Message::text(frame.to_string())).await.is_err() {
                    stats.errors += 1;
                }
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("ack") => stats.acks += 1,
                        Some("error") if v["code"] == "rate_limited" => stats.rate_limited += 1,
                        Some("error") => stats.errors += 1,
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                _ => {
                    stats.errors += 1;
                    break;
                }
            },
            _ = tokio::time::sleep_until(stop_reading) => break,
        }
    }
    let _ = ws.close(None).await;
    Ok(stats)
}

/// Receives messages until `until`; records latency of those sent in the window.
async fn receiver(
    mut ws: Ws,
    epoch: Instant,
    measure_from: Instant,
    end: Instant,
    until: Instant,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    let from = measure_from.duration_since(epoch).as_micros() as u64;
    let to = end.duration_since(epoch).as_micros() as u64;
    let until = tokio::time::Instant::from_std(until);
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = tokio::time::sleep_until(until) => break,
        };
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                if v["type"] != "message" {
                    continue;
                }
                let now = epoch.elapsed().as_micros() as u64;
                let sent = v["body"]
                    .as_str()
                    .and_then(|b| b.strip_prefix("t="))
                    .and_then(|t| t.parse::<u64>().ok());
                match sent {
                    Some(s) if s >= from && s < to => hist.record(now.saturating_sub(s).max(1))?,
                    Some(_) => {}
                    None => errors += 1,
                }
            }
            Some(Ok(_)) => {}
            _ => {
                errors += 1;
                break;
            }
        }
    }
    let _ = ws.close(None).await;
    Ok((hist, errors))
}

static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Receivers shared by the group conversations (each group has
/// `size - 1` of them); with groups of two every receiver is distinct.
const RECEIVER_POOL: usize = 50;

/// Chat in `groups` conversations of `size` members: one sender per
/// conversation (a user of its own, on its own connection) at `opts.rate`,
/// every other member receiving. Deliveries are `size - 1` per send.
async fn chat(opts: &Opts, groups: usize, size: usize) -> anyhow::Result<()> {
    let server = Server::start(opts, &["--no-webtransport"]).await?;
    let row = chat_on(opts, &server.base, &server.base, &server.base, groups, size).await;
    server.stop().await;
    println!("{}", row?.text);
    Ok(())
}

/// Runs the chat scenario with the set-up calls on `api`, the senders'
/// WebSockets on `send` and the members' on `recv` (base URLs, which may
/// be different nodes of a cluster); returns the table row.
pub async fn chat_on(
    opts: &Opts,
    api: &str,
    send: &str,
    recv: &str,
    groups: usize,
    size: usize,
) -> anyhow::Result<ChatRow> {
    use reqwest::Method;
    anyhow::ensure!(size >= 2, "a conversation needs two members");
    let base = api.to_string();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let pool = if size == 2 {
        groups
    } else {
        RECEIVER_POOL.max(size - 1)
    };
    // Names unique to this run: several runs may share one database.
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let senders_names: Vec<String> = (0..groups).map(|i| format!("r{run}sender{i}")).collect();
    let receiver_names: Vec<String> = (0..pool).map(|i| format!("r{run}member{i}")).collect();
    let sender_cookies = signup(&c, &base, &senders_names).await?;
    let receiver_cookies = signup(&c, &base, &receiver_names).await?;
    let members = |g: usize| -> Vec<usize> { (0..size - 1).map(|j| (g + j) % pool).collect() };
    // Each sender befriends its members and opens the conversation.
    let conversations: Vec<anyhow::Result<String>> = stream::iter(0..groups)
        .map(|g| {
            let (c, base) = (&c, &base);
            let (sc, rc) = (&sender_cookies, &receiver_cookies);
            let (rn, members) = (&receiver_names, members(g));
            async move {
                for &m in &members {
                    let r = call(
                        c,
                        Method::POST,
                        format!("{base}/api/friends/requests"),
                        Some(&sc[g]),
                        Some(json!({"username": rn[m]})),
                    )
                    .await?;
                    let id = r["id"].as_str().context("request id")?;
                    call(
                        c,
                        Method::POST,
                        format!("{base}/api/friends/requests/{id}/accept"),
                        Some(&rc[m]),
                        None,
                    )
                    .await?;
                }
                let names: Vec<&String> = members.iter().map(|&m| &rn[m]).collect();
                let body = if size == 2 {
                    json!({"members": names})
                } else {
                    json!({"members": names, "title": format!("group {g}")})
                };
                let r = call(
                    c,
                    Method::POST,
                    format!("{base}/api/conversations"),
                    Some(&sc[g]),
                    Some(body),
                )
                .await?;
                Ok(r["id"].as_str().context("conversation id")?.to_string())
            }
        })
        .buffered(8)
        .collect()
        .await;
    let conversations: Vec<String> = conversations.into_iter().collect::<anyhow::Result<_>>()?;
    // Everyone online before anyone sends.
    let open = |cookies: Vec<String>, node: &str| {
        let node = node.to_string();
        async move {
            let socks: Vec<anyhow::Result<Ws>> = stream::iter(cookies)
                .map(|ck| {
                    let node = node.clone();
                    async move { connect(&node, &ck).await }
                })
                .buffered(50)
                .collect()
                .await;
            socks.into_iter().collect::<anyhow::Result<Vec<_>>>()
        }
    };
    let sender_socks = open(sender_cookies, send).await?;
    let receiver_socks = open(receiver_cookies, recv).await?;

    let epoch = Instant::now();
    let measure_from = epoch + WARMUP;
    let end = measure_from + opts.duration;
    let mut senders = Vec::new();
    for (g, (ws, conversation)) in sender_socks.into_iter().zip(conversations).enumerate() {
        senders.push(tokio::spawn(sender(
            ws,
            g,
            conversation,
            opts.rate,
            epoch,
            measure_from,
            end,
        )));
    }
    let receivers: Vec<_> = receiver_socks
        .into_iter()
        .map(|ws| tokio::spawn(receiver(ws, epoch, measure_from, end, end + GRACE)))
        .collect();
    let mut sent = SendStats::default();
    for s in senders {
        let s = s.await??;
        sent.offered += s.offered;
        sent.acks += s.acks;
        sent.errors += s.errors;
        sent.rate_limited += s.rate_limited;
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut recv_errors = 0;
    for r in receivers {
        let (h, e) = r.await??;
        hist.add(h)?;
        recv_errors += e;
    }
    let secs = opts.duration.as_secs_f64();
    Ok(ChatRow {
        text: format!(
            "| {groups} × {size} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} |",
            groups + pool,
            sent.offered as f64 / secs,
            sent.offered as f64 * (size - 1) as f64 / secs,
            hist.len() as f64 / secs,
            ms(&hist, 0.5),
            ms(&hist, 0.99),
            sent.rate_limited,
            sent.errors + recv_errors
        ),
        p99_us: hist.value_at_quantile(0.99),
    })
}

/// One chat run: its table row, and its p99 to pick the median run by.
pub struct ChatRow {
    pub text: String,
    pub p99_us: u64,
}

async fn idle(opts: &Opts) -> anyhow::Result<()> {
    let server = Server::start(opts, &["--no-webtransport"]).await?;
    let c = reqwest::Client::new();
    let names: Vec<String> = (0..IDLE_USERS).map(|i| format!("idle{i}")).collect();
    let cookies = signup(&c, &server.base, &names).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib()?;
    let n = opts.idle;
    let started = Instant::now();
    let results: Vec<anyhow::Result<Ws>> = stream::iter(0..n)
        .map(|i| {
            let cookie = &cookies[i % cookies.len()];
            let base = &server.base;
            async move {
                tokio::time::timeout(CONNECT_TIMEOUT, connect(base, cookie))
                    .await
                    .context("timed out")?
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let open_secs = started.elapsed().as_secs_f64();
    let mut conns = Vec::with_capacity(n);
    let mut failures = 0;
    let mut first_error = None;
    for r in results {
        match r {
            Ok(ws) => conns.push(ws),
            Err(e) => {
                failures += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_kib()?;
    let open = conns.len();
    let per = if open > 0 {
        (after.saturating_sub(before)) as f64 / open as f64
    } else {
        0.0
    };
    println!("## Realtime: memory per idle WebSocket connection\n");
    println!(
        "A fresh kith process; {n} WebSocket connections opened ({CONNECT_CONCURRENCY} handshakes at a time, sharing {IDLE_USERS} users' sessions), each reading its hello and then idle. RSS is the kith process's VmRSS before opening them and 2 s after the last one is open.\n"
    );
    println!(
        "| connections open | failed | open time s | RSS before MiB | RSS after MiB | KiB per connection |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {open} | {failures} | {open_secs:.1} | {:.1} | {:.1} | {per:.1} |",
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    println!();
    if let Some(e) = first_error {
        eprintln!("first idle connection failure: {e:#}");
    }
    // Close them all, a bounded number at a time.
    stream::iter(conns)
        .for_each_concurrent(CONNECT_CONCURRENCY, |mut ws| async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
        })
        .await;
    server.stop().await;
    Ok(())
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    println!("## Realtime: chat over WebSocket\n");
    println!(
        "One kith process per row (release build, `--no-webtransport`) on loopback. Each conversation has one sender (its own user and WebSocket) sending {} msgs/s (the per-connection limit is 10/s after a burst of 30); every other member receives on its own WebSocket. Messages are stored through the writer before they are acked and fanned out. {:.0} s measured after {:.0} s warm-up; latency is from just before the send frame is written to when a member reads the message. The load generator runs on the same 2 cores as the server.\n",
        opts.rate,
        opts.duration.as_secs_f64(),
        WARMUP.as_secs_f64()
    );
    println!(
        "| conversations × members | connections | sends/s offered | deliveries/s offered | delivered msgs/s | p50 ms | p99 ms | rate-limited | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    chat(opts, opts.pairs, 2).await?;
    chat(opts, opts.groups, 10).await?;
    println!();
    idle(opts).await?;
    Ok(())
}
