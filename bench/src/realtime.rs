//! Realtime chat over WebSocket against a real kith process: message
//! throughput and send→receive latency, then memory per idle connection.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, client_async, connect_async};

use crate::link::{Event, Ws, WtClients, published_url};
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

/// The user of cookie `a` asks `b_name` (cookie `b`) to be friends, and
/// they accept.
pub async fn befriend(
    c: &reqwest::Client,
    base: &str,
    a: &str,
    b: &str,
    b_name: &str,
) -> anyhow::Result<()> {
    use reqwest::Method;
    let r = call(
        c,
        Method::POST,
        format!("{base}/api/friends/requests"),
        Some(a),
        Some(json!({"username": b_name})),
    )
    .await?;
    let id = r["id"].as_str().context("request id")?;
    call(
        c,
        Method::POST,
        format!("{base}/api/friends/requests/{id}/accept"),
        Some(b),
        None,
    )
    .await?;
    Ok(())
}

/// The realtime protocol a load-generator connection speaks: kith's JSON
/// frames on `/ws`, or Socket.IO 4's (Engine.IO 4 over WebSocket) for the
/// comparison peer. Both carry the same events with the same fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Kith,
    SocketIo,
}

/// A decoded text frame.
pub enum Frame {
    /// An event in kith's shape: `type` plus its fields.
    Event(Value),
    /// Engine.IO's ping, to be answered with `3` or the server drops us.
    Ping,
    Other,
}

impl Proto {
    fn url(self, base: &str) -> String {
        let host = base.trim_start_matches("http://");
        match self {
            Proto::Kith => format!("ws://{host}/ws"),
            Proto::SocketIo => format!("ws://{host}/socket.io/?EIO=4&transport=websocket"),
        }
    }

    /// A `send` frame for `conversation`.
    pub fn send_frame(self, conversation: &str, client_msg_id: &str, body: &str) -> String {
        let payload = json!({
            "conversation_id": conversation,
            "client_msg_id": client_msg_id,
            "body": body,
        });
        match self {
            Proto::Kith => {
                let mut v = payload;
                v["type"] = json!("send");
                v.to_string()
            }
            Proto::SocketIo => format!("42{}", json!(["send", payload])),
        }
    }

    pub fn decode(self, text: &str) -> Frame {
        match self {
            Proto::Kith => serde_json::from_str(text).map_or(Frame::Other, Frame::Event),
            Proto::SocketIo => {
                if text == "2" {
                    return Frame::Ping;
                }
                // `42["event",{...}]`: namespace "/", an event packet.
                let Some(arr) = text.strip_prefix("42") else {
                    return Frame::Other;
                };
                match serde_json::from_str::<Value>(arr) {
                    Ok(Value::Array(mut a)) if a.len() == 2 && a[0].is_string() => {
                        let mut v = a.pop().unwrap_or(Value::Null);
                        if !v.is_object() {
                            v = json!({});
                        }
                        v["type"] = a.pop().unwrap_or(Value::Null);
                        Frame::Event(v)
                    }
                    _ => Frame::Other,
                }
            }
        }
    }
}

/// Opens a kith WebSocket with the session cookie and reads until the hello.
pub async fn connect(base: &str, cookie: &str) -> anyhow::Result<Ws> {
    connect_as(Proto::Kith, base, cookie).await
}

/// [`connect`] from the loopback address `source`: one source address has
/// only the ~28,000 ports of `ip_local_port_range` (32768–60999) to reach
/// one server port with, so tens of thousands of sockets need several.
pub async fn connect_from(
    base: &str,
    cookie: &str,
    source: Option<std::net::IpAddr>,
) -> anyhow::Result<Ws> {
    let Some(source) = source else {
        return connect(base, cookie).await;
    };
    let server: std::net::SocketAddr = base.trim_start_matches("http://").parse()?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((source, 0).into())?;
    let stream = socket.connect(server).await?;
    let req = handshake(Proto::Kith, base, cookie)?;
    let (ws, _) = client_async(req, MaybeTlsStream::Plain(stream)).await?;
    until_hello(Proto::Kith, ws).await.map(|(ws, _)| ws)
}

/// Opens a connection speaking `proto` with the session cookie and reads
/// until the server's `hello` event.
pub async fn connect_as(proto: Proto, base: &str, cookie: &str) -> anyhow::Result<Ws> {
    Ok(connect_hello(proto, base, cookie).await?.0)
}

/// [`connect_as`], answering the `hello` event too.
pub async fn connect_hello(proto: Proto, base: &str, cookie: &str) -> anyhow::Result<(Ws, Value)> {
    let (ws, _) = connect_async(handshake(proto, base, cookie)?).await?;
    until_hello(proto, ws).await
}

/// The upgrade request, with the session cookie and the page's origin.
fn handshake(
    proto: Proto,
    base: &str,
    cookie: &str,
) -> anyhow::Result<tokio_tungstenite::tungstenite::handshake::client::Request> {
    let mut req = proto.url(base).into_client_request()?;
    req.headers_mut().insert("cookie", cookie.parse()?);
    req.headers_mut().insert("origin", base.parse()?);
    Ok(req)
}

/// Reads a new connection until the server's `hello` event.
async fn until_hello(proto: Proto, mut ws: Ws) -> anyhow::Result<(Ws, Value)> {
    loop {
        match ws.next().await.context("closed before hello")?? {
            Message::Text(t) => {
                if proto == Proto::SocketIo && t.starts_with('0') {
                    // Engine.IO's open packet: join the default namespace.
                    ws.send(Message::text("40")).await?;
                    continue;
                }
                match proto.decode(&t) {
                    Frame::Event(v) if v["type"] == "hello" => return Ok((ws, v)),
                    Frame::Ping => ws.send(Message::text("3")).await?,
                    _ if t.starts_with("44") => bail!("refused: {t}"),
                    _ => {}
                }
            }
            Message::Close(_) => bail!("closed before hello"),
            _ => {}
        }
    }
}

/// Keeps an idle connection alive (answering Engine.IO pings; tungstenite
/// answers WebSocket pings as it reads) until `stop` fires; then closes it.
pub async fn hold(mut ws: Ws, proto: Proto, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if let Frame::Ping = proto.decode(&t)
                        && ws.send(Message::text("3")).await.is_err()
                    {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            _ = stop.changed() => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
}

/// One connection's share of a chat run.
struct ClientStats {
    offered: u64,
    errors: u64,
    rate_limited: u64,
    /// Send→receive latency of messages sent in the measured window.
    hist: Histogram<u64>,
}

/// A chat connection's timeline: sends (if it has a conversation) from
/// `epoch` at `rate`/s until `end`, counting those after `measure_from`;
/// reads until `end + GRACE`.
#[derive(Clone, Copy)]
struct Timeline {
    epoch: Instant,
    measure_from: Instant,
    end: Instant,
}

/// One load-generator connection: sends `rate` msgs/s into `conversation`
/// if it has one, and records the latency of every message it receives.
async fn client(
    mut ws: Ws,
    proto: Proto,
    id: usize,
    conversation: Option<String>,
    rate: f64,
    tl: Timeline,
) -> anyhow::Result<ClientStats> {
    let mut s = ClientStats {
        offered: 0,
        errors: 0,
        rate_limited: 0,
        hist: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
    };
    let from = tl.measure_from.duration_since(tl.epoch).as_micros() as u64;
    let to = tl.end.duration_since(tl.epoch).as_micros() as u64;
    // Stagger the senders' phases so sends do not all land on the same tick.
    let period = Duration::from_secs_f64(1.0 / rate);
    let phase = period.mul_f64((id % 100) as f64 / 100.0);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop_reading = tokio::time::Instant::from_std(tl.end + GRACE);
    let mut i = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick(), if conversation.is_some() && Instant::now() < tl.end => {
                let now = Instant::now();
                let Some(conv) = conversation.as_deref().filter(|_| now < tl.end) else {
                    continue;
                };
                let t = now.duration_since(tl.epoch).as_micros();
                let frame = proto.send_frame(conv, &format!("c{id}-{i}"), &format!("t={t}"));
                i += 1;
                if now >= tl.measure_from {
                    s.offered += 1;
                }
                if ws.send(Message::text(frame)).await.is_err() {
                    s.errors += 1;
                }
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => match proto.decode(&t) {
                    Frame::Ping => {
                        let _ = ws.send(Message::text("3")).await;
                    }
                    Frame::Event(v) => match v["type"].as_str() {
                        Some("error") if v["code"] == "rate_limited" => s.rate_limited += 1,
                        Some("error") => s.errors += 1,
                        Some("message") => {
                            let now = tl.epoch.elapsed().as_micros() as u64;
                            match v["body"]
                                .as_str()
                                .and_then(|b| b.strip_prefix("t="))
                                .and_then(|t| t.parse::<u64>().ok())
                            {
                                Some(sent) if sent >= from && sent < to => {
                                    s.hist.record(now.saturating_sub(sent).max(1))?
                                }
                                Some(_) => {}
                                None => s.errors += 1,
                            }
                        }
                        _ => {}
                    },
                    Frame::Other => {}
                },
                Some(Ok(_)) => {}
                _ => {
                    s.errors += 1;
                    break;
                }
            },
            _ = tokio::time::sleep_until(stop_reading) => break,
        }
    }
    let _ = ws.close(None).await;
    Ok(s)
}

static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Receivers shared by the group conversations (each group has
/// `size - 1` of them); with groups of two every receiver is distinct.
const RECEIVER_POOL: usize = 50;

/// A chat run's shape: `groups` conversations of `size` members, each
/// with one sending user on `conns_per_sender` connections (each sending
/// at the rate; the limit is per connection), every other member
/// receiving on one connection. A message reaches the other members and
/// the sender's other connections.
#[derive(Clone, Copy)]
pub struct ChatSpec {
    pub groups: usize,
    pub size: usize,
    pub conns_per_sender: usize,
    pub proto: Proto,
}

/// Chat on one fresh kith process (see [`ChatSpec`]).
async fn chat(opts: &Opts, groups: usize, size: usize) -> anyhow::Result<()> {
    let server = Server::start(opts, &["--no-webtransport"]).await?;
    let spec = ChatSpec {
        groups,
        size,
        conns_per_sender: 1,
        proto: Proto::Kith,
    };
    let one = std::slice::from_ref(&server.base);
    let row = chat_on(opts, &server.base, one, one, spec, &[]).await;
    server.stop().await;
    println!("{}", row?.text);
    Ok(())
}

/// Runs the chat scenario with the set-up calls on `api`, the senders'
/// connections on `send` and the members' on `recv` (base URLs, which may
/// be different nodes of a cluster; connection k goes to entry k mod len);
/// returns the table row.
pub async fn chat_on(
    opts: &Opts,
    api: &str,
    send: &[String],
    recv: &[String],
    spec: ChatSpec,
    servers: &[u32],
) -> anyhow::Result<ChatRow> {
    use reqwest::Method;
    let ChatSpec {
        groups,
        size,
        conns_per_sender,
        proto,
    } = spec;
    anyhow::ensure!(size >= 2, "a conversation needs two members");
    anyhow::ensure!(conns_per_sender >= 1, "a sender needs a connection");
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
                    befriend(c, base, &sc[g], &rc[m], &rn[m]).await?;
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
    let open = |cookies: Vec<String>, nodes: &[String]| {
        let nodes = nodes.to_vec();
        async move {
            let socks: Vec<anyhow::Result<Ws>> = stream::iter(cookies.into_iter().enumerate())
                .map(|(k, ck)| {
                    let node = nodes[k % nodes.len()].clone();
                    async move { connect_as(proto, &node, &ck).await }
                })
                .buffered(50)
                .collect()
                .await;
            socks.into_iter().collect::<anyhow::Result<Vec<_>>>()
        }
    };
    let sender_conns: Vec<String> = sender_cookies
        .iter()
        .flat_map(|ck| std::iter::repeat_n(ck.clone(), conns_per_sender))
        .collect();
    let sender_socks = open(sender_conns, send).await?;
    let receiver_socks = open(receiver_cookies, recv).await?;

    let epoch = Instant::now();
    let measure_from = epoch + WARMUP;
    let cpu_before = cpu_secs();
    let server_cpu = || {
        servers.iter().fold((0.0, 0.0), |(u, s), pid| {
            let (pu, ps) = cpu_of(&pid.to_string());
            (u + pu, s + ps)
        })
    };
    let servers_before = server_cpu();
    let tl = Timeline {
        epoch,
        measure_from,
        end: measure_from + opts.duration,
    };
    let mut tasks = Vec::new();
    for (k, ws) in sender_socks.into_iter().enumerate() {
        let conv = conversations[k / conns_per_sender].clone();
        tasks.push(tokio::spawn(client(
            ws,
            proto,
            k,
            Some(conv),
            opts.rate,
            tl,
        )));
    }
    for (k, ws) in receiver_socks.into_iter().enumerate() {
        tasks.push(tokio::spawn(client(ws, proto, k, None, opts.rate, tl)));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut offered, mut rate_limited, mut errors) = (0, 0, 0);
    for t in tasks {
        let s = t.await??;
        offered += s.offered;
        rate_limited += s.rate_limited;
        errors += s.errors;
        hist.add(s.hist)?;
    }
    let elapsed = epoch.elapsed().as_secs_f64();
    let loadgen_cpu = (cpu_secs() - cpu_before) / elapsed;
    let servers_after = server_cpu();
    let server_user = (servers_after.0 - servers_before.0) / elapsed;
    let server_sys = (servers_after.1 - servers_before.1) / elapsed;
    let secs = opts.duration.as_secs_f64();
    let fan_out = (size - 1 + conns_per_sender - 1) as f64;
    let delivered_per_s = hist.len() as f64 / secs;
    let shape = if conns_per_sender == 1 {
        format!("{groups} × {size}")
    } else {
        format!("{groups} × {size}, {conns_per_sender} conns/sender")
    };
    Ok(ChatRow {
        text: format!(
            "| {shape} | {} | {:.0} | {:.0} | {delivered_per_s:.0} | {} | {} | {rate_limited} | {errors} |",
            groups * conns_per_sender + pool,
            offered as f64 / secs,
            offered as f64 * fan_out / secs,
            ms(&hist, 0.5),
            ms(&hist, 0.99),
        ),
        p99_us: hist.value_at_quantile(0.99),
        p50_us: hist.value_at_quantile(0.5),
        delivered_per_s,
        errors,
        loadgen_cpu,
        server_user,
        server_sys,
    })
}

/// One chat run: its table row and figures.
pub struct ChatRow {
    pub text: String,
    pub p99_us: u64,
    pub p50_us: u64,
    pub delivered_per_s: f64,
    pub errors: u64,
    /// The load generator's own CPU use during the run, in cores: near the
    /// number of cores it may use, it (not the server) is the limit.
    pub loadgen_cpu: f64,
    /// The servers' (`servers` PIDs) CPU use during the run, in cores,
    /// in user space and in the kernel.
    pub server_user: f64,
    pub server_sys: f64,
}

/// This process's CPU time (user + system, all threads) so far, in seconds.
pub fn cpu_secs() -> f64 {
    let (u, s) = cpu_of("self");
    u + s
}

/// A process's CPU time so far, (user, system) in seconds, from
/// `/proc/PID/stat` (clock ticks of 1/100 s on Linux); zeros if it is gone.
pub fn cpu_of(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    f.get(11)
        .zip(f.get(12))
        .map_or((0.0, 0.0), |(u, s)| (u / 100.0, s / 100.0))
}

/// The servers' memory once it stops moving: signing up (Argon2 with
/// 19 MiB per hash) leaves freed memory that allocators return to the
/// system a little later. Reads every 500 ms until two reads are within
/// 1%, for at most 10 s.
async fn settled(rss: &dyn Fn() -> anyhow::Result<u64>) -> anyhow::Result<u64> {
    let mut last = rss()?;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss()?;
        if now.abs_diff(last) * 100 <= last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// An idle-connection measurement: how many opened, and the servers'
/// memory with none, with a fifth of them and with all of them open.
pub struct IdleRow {
    pub open: usize,
    pub failed: usize,
    pub open_secs: f64,
    pub before_kib: u64,
    /// Connections open at the first mark, and the memory then.
    pub mark: usize,
    pub mark_kib: u64,
    pub after_kib: u64,
}

impl IdleRow {
    /// The marginal memory of a connection: the growth from the first mark
    /// to the end over the connections opened in between. Measuring from a
    /// fifth keeps out what the first connections warm up (buffers pools,
    /// allocator pages) and memory freed before the run (Argon2's 19 MiB per
    /// signup) that the allocator keeps and hands out again.
    pub fn per_conn_kib(&self) -> f64 {
        if self.open <= self.mark {
            return 0.0;
        }
        self.after_kib.saturating_sub(self.mark_kib) as f64 / (self.open - self.mark) as f64
    }
}

/// Opens `n` idle connections speaking `proto`, spread over `bases` and
/// sharing `cookies`' sessions, each reading its hello and then kept alive;
/// `rss` sums the servers' resident memory (KiB). See [`idle_with`].
pub async fn idle_on(
    proto: Proto,
    bases: &[String],
    cookies: &[String],
    n: usize,
    rss: &dyn Fn() -> anyhow::Result<u64>,
) -> anyhow::Result<IdleRow> {
    idle_with(n, rss, |i, stopped| {
        let cookie = &cookies[i % cookies.len()];
        let base = &bases[i % bases.len()];
        async move {
            let ws = connect_as(proto, base, cookie).await?;
            Ok(tokio::spawn(hold(ws, proto, stopped)))
        }
    })
    .await
}

/// Opens `n` idle connections with `open` (given the connection's number
/// and the signal to close; it hands back the task holding it), with
/// `rss` read before the first, 2 s after a fifth are open and 2 s after
/// the last. Closes them all before returning.
pub async fn idle_with<F, Fut>(
    n: usize,
    rss: &dyn Fn() -> anyhow::Result<u64>,
    open: F,
) -> anyhow::Result<IdleRow>
where
    F: Fn(usize, tokio::sync::watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<tokio::task::JoinHandle<()>>>,
{
    let before_kib = settled(rss).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let mark = n / 5;
    let mut holds = Vec::with_capacity(n);
    let mut first_error = None;
    let mut mark_kib = 0;
    for range in [0..mark, mark..n] {
        let results: Vec<anyhow::Result<tokio::task::JoinHandle<()>>> = stream::iter(range)
            .map(|i| {
                let opened = open(i, stopped.clone());
                async move {
                    tokio::time::timeout(CONNECT_TIMEOUT, opened)
                        .await
                        .context("timed out")?
                }
            })
            .buffer_unordered(CONNECT_CONCURRENCY)
            .collect()
            .await;
        for r in results {
            match r {
                Ok(h) => holds.push(h),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if mark_kib == 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            mark_kib = rss()?;
        }
    }
    let open_secs = started.elapsed().as_secs_f64() - 2.0;
    if let Some(e) = first_error {
        eprintln!("first idle connection failure: {e:#}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_kib = rss();
    let open = holds.iter().filter(|h| !h.is_finished()).count();
    let _ = stop.send(true);
    for h in holds {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    Ok(IdleRow {
        open,
        failed: n - open,
        open_secs,
        before_kib,
        mark,
        mark_kib,
        after_kib: after_kib?,
    })
}

pub async fn idle(opts: &Opts) -> anyhow::Result<()> {
    let server = Server::start(opts, &["--no-webtransport"]).await?;
    let c = reqwest::Client::new();
    let cookies = idle_users(&c, &server.base).await?;
    let n = opts.idle;
    let row = idle_on(
        Proto::Kith,
        std::slice::from_ref(&server.base),
        &cookies,
        n,
        &|| server.rss_kib(),
    )
    .await;
    server.stop().await;
    print_idle("WebSocket connection", "WebSocket connections", n, &row?);
    Ok(())
}

/// As [`idle`], with WebTransport sessions opened as the web client opens
/// one: a ticket (`POST /api/realtime/ticket`), then the published URL,
/// trusting the published certificate hash; all from one client socket.
pub async fn idle_webtransport(opts: &Opts) -> anyhow::Result<()> {
    let server = Server::start(opts, &[]).await?;
    let row = idle_sessions(opts, &server).await;
    server.stop().await;
    print_idle(
        "WebTransport session",
        "WebTransport sessions",
        opts.idle,
        &row?,
    );
    Ok(())
}

/// The users whose sessions the idle connections share: their cookies.
async fn idle_users(c: &reqwest::Client, base: &str) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = (0..IDLE_USERS).map(|i| format!("idle{i}")).collect();
    signup(c, base, &names).await
}

async fn idle_sessions(opts: &Opts, server: &Server) -> anyhow::Result<IdleRow> {
    let c = reqwest::Client::new();
    let cookies = idle_users(&c, &server.base).await?;
    let base = &server.base;
    let cfg = call(
        &c,
        reqwest::Method::GET,
        format!("{base}/api/realtime/config"),
        Some(&cookies[0]),
        None,
    )
    .await?;
    let url = published_url(&cfg)?;
    let clients = WtClients::new(&[], &cfg)?;
    let (c, clients, cookies) = (&c, &clients, &cookies);
    idle_with(
        opts.idle,
        &|| server.rss_kib(),
        |i, mut stopped| async move {
            let t = call(
                c,
                reqwest::Method::POST,
                format!("{base}/api/realtime/ticket"),
                Some(&cookies[i % cookies.len()]),
                None,
            )
            .await?;
            let ticket = t["ticket"].as_str().context("no ticket")?;
            let mut link = clients.connect(i, url, ticket, base).await?;
            Ok(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        e = link.next() => if let Event::Lost(_) = e { return },
                        _ = stopped.changed() => break,
                    }
                }
                link.close(true).await;
            }))
        },
    )
    .await
}

fn print_idle(one: &str, many: &str, n: usize, row: &IdleRow) {
    println!("## Realtime: memory per idle {one}\n");
    println!(
        "A fresh kith process; {n} {many} opened ({CONNECT_CONCURRENCY} handshakes at a time, sharing {IDLE_USERS} users' sessions), each reading its hello and then idle. RSS is the kith process's VmRSS before opening them, 2 s after a fifth are open and 2 s after the last one is open; the cost per connection is the growth between the last two over the connections opened in between.\n"
    );
    println!(
        "| connections open | failed | open time s | RSS before MiB | RSS at a fifth MiB | RSS after MiB | KiB per connection |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
        row.open,
        row.failed,
        row.open_secs,
        row.before_kib as f64 / 1024.0,
        row.mark_kib as f64 / 1024.0,
        row.after_kib as f64 / 1024.0,
        row.per_conn_kib()
    );
    println!();
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
    idle_webtransport(opts).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_io_frames_decode_to_kiths_shape() {
        let Frame::Event(v) = Proto::SocketIo
            .decode(r#"42["message",{"conversation_id":"7","body":"t=12","seq":3}]"#)
        else {
            panic!("an event packet decodes to an event");
        };
        assert_eq!(v["type"], "message");
        assert_eq!(v["body"], "t=12");
        assert_eq!(v["seq"], 3);
        assert!(matches!(Proto::SocketIo.decode("2"), Frame::Ping));
        // Engine.IO's open packet, a namespace connect and garbage are
        // nothing the load generator counts.
        for other in [r#"0{"sid":"x"}"#, "40", "42not json", r#"42["only"]"#, ""] {
            assert!(
                matches!(Proto::SocketIo.decode(other), Frame::Other),
                "{other}"
            );
        }
        let Frame::Event(v) = Proto::Kith.decode(r#"{"type":"ack","seq":1}"#) else {
            panic!("kith frames are JSON objects");
        };
        assert_eq!(v["type"], "ack");
        assert!(matches!(
            Proto::Kith.decode("2"),
            Frame::Event(_) | Frame::Other
        ));
    }

    #[test]
    fn send_frames_carry_the_same_fields_in_each_framing() {
        let kith: Value =
            serde_json::from_str(&Proto::Kith.send_frame("5", "c1-0", "t=1")).expect("json");
        assert_eq!(kith["type"], "send");
        let sio = Proto::SocketIo.send_frame("5", "c1-0", "t=1");
        let arr: Value = serde_json::from_str(sio.strip_prefix("42").expect("event packet"))
            .expect("json array");
        assert_eq!(arr[0], "send");
        for field in ["conversation_id", "client_msg_id", "body"] {
            assert_eq!(arr[1][field], kith[field], "{field}");
        }
    }

    #[test]
    fn idle_cost_is_the_growth_after_the_mark() {
        let row = IdleRow {
            open: 10_000,
            failed: 0,
            open_secs: 1.0,
            before_kib: 90_000,
            mark: 2_000,
            mark_kib: 60_000,
            after_kib: 100_000,
        };
        assert!((row.per_conn_kib() - 5.0).abs() < 1e-9);
        let none = IdleRow { open: 2_000, ..row };
        assert_eq!(none.per_conn_kib(), 0.0);
    }
}
