//! Soak: one kith node under a mixed, realistic load for minutes, with
//! 2,000 users connected over WebSocket the whole time. Memory must be flat
//! after warm-up and nothing may fail.
//!
//! Setup: users in friend circles of [`CIRCLE`] (everyone in a circle is
//! friends with everyone else in it, and with the user at the same place in
//! the circles before and after), each in two direct conversations and one
//! group conversation of their circle, each with [`POSTS_EACH`] posts.
//!
//! Load, at fixed offered rates per user (open loop: a request is started
//! on its tick whatever the previous ones are doing), [`Rates::soak`]: an
//! HTTP mix of reads and writes; chat messages over the sockets, each
//! announced by a typing frame a second before it; read receipts from the
//! recipients; an application ping per socket every 20 s (as the web client
//! does); and churn: every few seconds a few users drop their socket
//! (half with a close frame, half by dropping the TCP connection), stay away
//! a few seconds (long enough for friends to see them go offline), then
//! reconnect the way the web client does (`GET /api/realtime/config`, then
//! `/ws` with the session cookie) and catch up with `sync`.
//!
//! Delivery is checked, not assumed: every recipient tracks which sequence
//! numbers of each of its conversations it has seen (live or replayed by
//! `sync` after a reconnect), and at the end every acknowledged message must
//! have reached every other member.
//!
//! The server's RSS, open file descriptors, threads and CPU are sampled
//! every 10 s; the slope of RSS after the warm-up is a least-squares fit.
//!
//! The machinery (a [`Cohort`] of users and its drivers, the figures of a
//! [`Run`]) serves the capacity benchmark too, with its own [`Rates`].

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use hdrhistogram::Histogram;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::link::{Event, Link, WtClients, published_url};
use crate::realtime::{self, Proto};
use crate::server::{Server, befriend, call, rss_of};
use crate::{Opts, ms};

/// Users per friend circle (and per group conversation).
pub const CIRCLE: usize = 8;
/// Posts each user writes during setup.
const POSTS_EACH: usize = 3;
/// The typing frame goes this long before its message.
const TYPING_LEAD: Duration = Duration::from_secs(1);
/// Application pings, as the web client sends them (assets/realtime.js).
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// How long a churned user stays away: from 2 s to 2 + this.
const CHURN_OFFLINE_SPREAD_MS: u64 = 4000;
/// A churn waits this long at most for the user's sends to be acked.
const CHURN_ACK_WAIT: Duration = Duration::from_secs(5);
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_ATTEMPTS: usize = 5;
/// Set-up calls in flight at once.
const SETUP_CONCURRENCY: usize = 8;
/// Handshakes in flight at once while opening the sockets.
const OPEN_CONCURRENCY: usize = 50;
/// After the load stops: time for the last messages to arrive.
pub const GRACE: Duration = Duration::from_secs(3);
/// Longest wait for reconnects, sends and requests in progress to finish.
const QUIESCE: Duration = Duration::from_secs(40);
/// Error descriptions kept for the report.
const KEEP_ERRORS: usize = 20;

const WORDS: [&str; 32] = [
    "morning", "coffee", "garden", "river", "concert", "weekend", "recipe", "bicycle", "mountain",
    "library", "sunset", "puppy", "market", "festival", "harbor", "lantern", "meadow", "orchard",
    "painting", "picnic", "rainbow", "sailing", "theatre", "village", "winter", "holiday",
    "museum", "football", "birthday", "kitchen", "journey", "island",
];

/// An HTTP request kind of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Feed,
    Profile,
    UserPosts,
    Post,
    Comments,
    CreatePost,
    Like,
    Comment,
    Search,
    Notifications,
    NotificationsRead,
    Conversations,
    Messages,
    /// `GET /api/realtime/config`, before every socket is opened; not
    /// driven on its own.
    RealtimeConfig,
    /// `POST /api/realtime/ticket`, before every WebTransport session.
    Ticket,
}

const KINDS: usize = 15;

/// Every kind, in the order of their indices.
const ALL_KINDS: [Kind; KINDS] = [
    Kind::Feed,
    Kind::Profile,
    Kind::UserPosts,
    Kind::Post,
    Kind::Comments,
    Kind::CreatePost,
    Kind::Like,
    Kind::Comment,
    Kind::Search,
    Kind::Notifications,
    Kind::NotificationsRead,
    Kind::Conversations,
    Kind::Messages,
    Kind::RealtimeConfig,
    Kind::Ticket,
];

/// What each user does, at fixed rates: the same for every user count.
#[derive(Clone, Debug)]
pub struct Rates {
    /// The HTTP mix: requests per user per second, by kind.
    pub http: Vec<(Kind, f64)>,
    /// Chat messages per user per second, each after a typing frame.
    pub chat: f64,
    /// Every this long, `churn_fraction` of the users reconnect.
    pub churn_every: Duration,
    pub churn_fraction: f64,
}

/// Per second, from a count per minute.
pub fn per_min(n: f64) -> f64 {
    n / 60.0
}

impl Rates {
    /// The soak's load: per user, an HTTP request every 20 s (3 a minute,
    /// a third of them feed reads), a chat message every 100 s, and 1% of
    /// the users reconnecting every 5 s (for 2,000 users: 100 requests and
    /// 20 messages a second, 20 reconnects every 5 s).
    pub fn soak() -> Rates {
        Rates {
            http: vec![
                (Kind::Feed, per_min(0.9)),
                (Kind::Profile, per_min(0.24)),
                (Kind::UserPosts, per_min(0.18)),
                (Kind::Post, per_min(0.24)),
                (Kind::Comments, per_min(0.15)),
                (Kind::CreatePost, per_min(0.06)),
                (Kind::Like, per_min(0.36)),
                (Kind::Comment, per_min(0.12)),
                (Kind::Search, per_min(0.18)),
                (Kind::Notifications, per_min(0.24)),
                (Kind::NotificationsRead, per_min(0.06)),
                (Kind::Conversations, per_min(0.15)),
                (Kind::Messages, per_min(0.12)),
            ],
            chat: per_min(0.6),
            churn_every: Duration::from_secs(5),
            churn_fraction: 0.01,
        }
    }

    /// HTTP requests per second offered by `n` users (reconnects aside).
    pub fn http_total(&self, n: usize) -> f64 {
        self.http.iter().map(|(_, r)| r * n as f64).sum()
    }

    /// Users to reconnect in a churn round when `owed` are carried over
    /// from the rounds before: (this round, carried on). Keeps the rate
    /// exact when `n` × the fraction is not a whole number.
    pub(crate) fn churn_round(&self, n: usize, owed: f64) -> (usize, f64) {
        let due = owed + n as f64 * self.churn_fraction;
        // The nudge: twelve rounds of 8.33… owed make 100, not 99.99….
        let now = (due + 1e-9).floor();
        (now as usize, due - now)
    }
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Feed => "GET /api/feed",
            Kind::Profile => "GET /api/users/{name}",
            Kind::UserPosts => "GET /api/users/{name}/posts",
            Kind::Post => "GET /api/posts/{id}",
            Kind::Comments => "GET /api/posts/{id}/comments",
            Kind::CreatePost => "POST /api/posts",
            Kind::Like => "PUT/DELETE /api/posts/{id}/like",
            Kind::Comment => "POST /api/posts/{id}/comments",
            Kind::Search => "GET /api/search",
            Kind::Notifications => "GET /api/notifications",
            Kind::NotificationsRead => "POST /api/notifications/read",
            Kind::Conversations => "GET /api/conversations",
            Kind::Messages => "GET /api/conversations/{id}/messages",
            Kind::RealtimeConfig => "GET /api/realtime/config (reconnects)",
            Kind::Ticket => "POST /api/realtime/ticket (WebTransport reconnects)",
        }
    }
}

/// splitmix64: a small deterministic generator (the load's choices need
/// spread, not quality).
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| WORDS[self.below(WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The friendships of `n` users in circles of `circle` (`n` a multiple):
/// all pairs inside a circle, and each user with the user at the same place
/// in the next circle (a ring of circles). Each pair once, lower index first.
fn friend_pairs(n: usize, circle: usize) -> Vec<(usize, usize)> {
    let mut pairs = BTreeSet::new();
    for c in 0..n / circle {
        let base = c * circle;
        for a in 0..circle {
            for b in a + 1..circle {
                pairs.insert((base + a, base + b));
            }
        }
    }
    if n / circle >= 2 {
        for i in 0..n {
            let j = (i + circle) % n;
            pairs.insert((i.min(j), i.max(j)));
        }
    }
    pairs.into_iter().collect()
}

/// The conversations of `n` users in circles of `circle`: in each circle,
/// a direct conversation between each member and the next (a ring), and one
/// group of the whole circle. The first member creates it.
fn conversation_members(n: usize, circle: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for c in 0..n / circle {
        let base = c * circle;
        for k in 0..circle {
            out.push(vec![base + k, base + (k + 1) % circle]);
        }
        out.push((base..base + circle).collect());
    }
    out
}

/// The sequence numbers of one conversation that a member has seen: all up
/// to `contig`, and the ones in `above` beyond it (two senders' messages
/// may be fanned out in the other order than their numbers).
#[derive(Debug, Default)]
struct SeqTrack {
    contig: i64,
    above: BTreeSet<i64>,
}

impl SeqTrack {
    /// Records `seq`; false if it was seen already (or is not a seq).
    fn record(&mut self, seq: i64) -> bool {
        if seq <= self.contig || !self.above.insert(seq) {
            return false;
        }
        while self.above.remove(&(self.contig + 1)) {
            self.contig += 1;
        }
        true
    }

    fn has(&self, seq: i64) -> bool {
        (1..=self.contig).contains(&seq) || self.above.contains(&seq)
    }
}

/// The least-squares slope of `points` (x, y): `None` with fewer than two
/// distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

fn hist() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

pub struct KindStats {
    pub count: u64,
    pub errors: u64,
    /// Latency (µs) of the successful requests in the measured window.
    pub hist: Histogram<u64>,
}

fn kind_stats() -> Vec<KindStats> {
    (0..KINDS)
        .map(|_| KindStats {
            count: 0,
            errors: 0,
            hist: hist(),
        })
        .collect()
}

struct Conv {
    id: String,
    members: Vec<usize>,
}

/// What every cohort of a run shares: the rates, the clock, the measured
/// window, the figures and the counters.
pub struct Run {
    /// Names the mode in progress lines ("soak", "capacity").
    name: &'static str,
    pub rates: Rates,
    /// Loopback addresses the sockets are opened from, in turn (none: the
    /// system's choice).
    sources: Vec<IpAddr>,
    http: Mutex<Vec<KindStats>>,
    /// Chat latencies (µs) in the measured window: send → a member reads
    /// it, and send → ack.
    delivery: Mutex<Histogram<u64>>,
    ack: Mutex<Histogram<u64>>,
    /// Time base of the `t=` stamps in message bodies.
    epoch: Instant,
    load_start: OnceLock<Instant>,
    /// The measured window, in µs since `epoch`: [from, until).
    measure_from: AtomicU64,
    measure_until: AtomicU64,
    /// When the drivers stop.
    end: OnceLock<Instant>,
    pub inflight: AtomicUsize,
    max_inflight: AtomicUsize,
    /// Chat sends asked for and not yet written, and written and not acked.
    pending_sends: AtomicI64,
    unacked: AtomicI64,
    pub connected: AtomicUsize,
    /// Commands a user's socket task could not take (its queue full).
    skipped: AtomicU64,
    errors: Mutex<Vec<String>>,
    /// Every error noted so far (all kinds).
    noted: AtomicU64,
    /// Users (numbered run-wide) from this one on connect over
    /// WebTransport; those before it over WebSocket.
    ws_users: usize,
    /// The WebTransport client endpoints, made at the first session.
    wt: tokio::sync::OnceCell<WtClients>,
}

/// Chat and HTTP figures of a measured window.
pub struct Window {
    pub http: Vec<KindStats>,
    pub delivery: Histogram<u64>,
    pub ack: Histogram<u64>,
}

impl Run {
    pub fn new(name: &'static str, rates: Rates, sources: Vec<IpAddr>) -> Run {
        Run {
            name,
            rates,
            sources,
            http: Mutex::new(kind_stats()),
            delivery: Mutex::new(hist()),
            ack: Mutex::new(hist()),
            epoch: Instant::now(),
            load_start: OnceLock::new(),
            measure_from: AtomicU64::new(u64::MAX),
            measure_until: AtomicU64::new(u64::MAX),
            end: OnceLock::new(),
            inflight: AtomicUsize::new(0),
            max_inflight: AtomicUsize::new(0),
            pending_sends: AtomicI64::new(0),
            unacked: AtomicI64::new(0),
            connected: AtomicUsize::new(0),
            skipped: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
            noted: AtomicU64::new(0),
            ws_users: usize::MAX,
            wt: tokio::sync::OnceCell::new(),
        }
    }

    /// The users from `n` on (run-wide) connect over WebTransport.
    pub fn webtransport_from(mut self, n: usize) -> Run {
        self.ws_users = n;
        self
    }

    /// Now, in µs since the epoch.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Whether a moment (µs since the epoch) is in the measured window.
    fn in_window(&self, us: u64) -> bool {
        us >= self.measure_from.load(Relaxed) && us < self.measure_until.load(Relaxed)
    }

    fn measuring(&self) -> bool {
        self.in_window(self.now_us())
    }

    /// The load starts now; latencies are measured from `warmup` on.
    pub fn start(&self, warmup: Duration) -> Instant {
        let now = Instant::now();
        let _ = self.load_start.set(now);
        self.measure_from
            .store(self.now_us() + warmup.as_micros() as u64, Relaxed);
        now
    }

    /// A new measured window from now on, until [`Run::close_window`];
    /// what was counted before it is dropped.
    pub fn open_window(&self) {
        self.take();
        self.measure_until.store(u64::MAX, Relaxed);
        self.measure_from.store(self.now_us(), Relaxed);
    }

    /// Ends the measured window now; after `grace` (for deliveries of its
    /// last messages) hands back its figures and starts empty ones.
    pub async fn close_window(&self, grace: Duration) -> Window {
        self.measure_until.store(self.now_us(), Relaxed);
        tokio::time::sleep(grace).await;
        self.take()
    }

    /// The figures so far.
    pub fn take(&self) -> Window {
        fn take(h: &Mutex<Histogram<u64>>) -> Histogram<u64> {
            h.lock()
                .map(|mut h| std::mem::replace(&mut *h, hist()))
                .unwrap_or_else(|_| hist())
        }
        Window {
            http: self
                .http
                .lock()
                .map(|mut h| std::mem::replace(&mut *h, kind_stats()))
                .unwrap_or_default(),
            delivery: take(&self.delivery),
            ack: take(&self.ack),
        }
    }

    /// The drivers stop at `at`.
    pub fn end_at(&self, at: Instant) {
        let _ = self.end.set(at);
    }

    fn ended(&self) -> bool {
        self.end.get().is_some_and(|e| Instant::now() >= *e)
    }

    fn loading(&self) -> bool {
        self.load_start.get().is_some()
    }

    /// Errors noted so far.
    pub fn noted(&self) -> u64 {
        self.noted.load(Relaxed)
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Whether sends, acks or requests are still under way.
    fn busy(&self) -> bool {
        self.pending_sends.load(Relaxed) > 0
            || self.unacked.load(Relaxed) > 0
            || self.inflight.load(Relaxed) > 0
    }

    pub fn note(&self, what: String) {
        self.noted.fetch_add(1, Relaxed);
        let at = self
            .load_start
            .get()
            .map_or(-1.0, |s| s.elapsed().as_secs_f64());
        eprintln!("{} error at t={at:.1}s: {what}", self.name);
        if let Ok(mut e) = self.errors.lock()
            && e.len() < KEEP_ERRORS
        {
            e.push(format!("t={at:.1}s {what}"));
        }
    }

    fn record(&self, kind: Kind, res: &anyhow::Result<Value>, began: Instant) {
        let measuring = self.measuring();
        if let Err(e) = res {
            self.note(format!("{}: {e:#}", kind.label()));
        }
        if !self.loading() && res.is_ok() {
            return;
        }
        if let Ok(mut h) = self.http.lock() {
            let s = &mut h[kind as usize];
            s.count += 1;
            match res {
                Ok(_) if measuring => {
                    let _ = s.hist.record(began.elapsed().as_micros().max(1) as u64);
                }
                Ok(_) => {}
                Err(_) => s.errors += 1,
            }
        }
    }
}

/// One cohort's users, their friends, conversations and posts; the
/// drivers and the users' socket tasks share it (and, through it, the run).
pub struct Shared {
    run: Arc<Run>,
    base: String,
    /// `ws://host/ws`, what `/api/realtime/config` must name.
    ws_url: String,
    client: reqwest::Client,
    /// The run-wide number of this cohort's first user (it picks the
    /// source address of each socket).
    first: usize,
    names: Vec<String>,
    cookies: Vec<String>,
    friends: Vec<Vec<usize>>,
    convs: Vec<Conv>,
    /// Post ids by author; new posts are added as they are created.
    posts: RwLock<Vec<Vec<String>>>,
    /// (user, post) pairs currently liked.
    likes: Mutex<HashSet<(usize, String)>>,
    churning: Vec<AtomicBool>,
}

impl Deref for Shared {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.run
    }
}

impl Shared {
    /// One API request by user `u` (with the user's session cookie).
    async fn api(
        &self,
        u: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        call(&self.client, method, url, Some(&self.cookies[u]), body).await
    }

    /// Whether user `u` connects over WebTransport.
    fn over_webtransport(&self, u: usize) -> bool {
        self.first + u >= self.run.ws_users
    }

    /// The address user `u`'s socket is opened from.
    fn source(&self, u: usize) -> Option<IpAddr> {
        let s = &self.run.sources;
        (!s.is_empty()).then(|| s[(self.first + u) % s.len()])
    }

    /// A post of one of `u`'s friends (so visible to `u`).
    fn friend_post(&self, u: usize, rng: &mut Rng) -> Option<String> {
        let f = self.friends[u][rng.below(self.friends[u].len())];
        let posts = self.posts.read().ok()?;
        let theirs = &posts[f];
        (!theirs.is_empty()).then(|| theirs[rng.below(theirs.len())].clone())
    }
}

/// One HTTP request of the mix by user `u`.
async fn http_op(sh: Arc<Shared>, kind: Kind, u: usize, seed: u64) {
    let n = sh.inflight.fetch_add(1, Relaxed) + 1;
    sh.max_inflight.fetch_max(n, Relaxed);
    let mut rng = Rng(seed);
    let friend = |rng: &mut Rng| sh.friends[u][rng.below(sh.friends[u].len())];
    let mut liking = None;
    let (method, path, body) = match kind {
        Kind::Feed => (Method::GET, "/api/feed?limit=20".to_string(), None),
        Kind::Profile => {
            // Half the time a friend, half anyone.
            let v = if rng.below(2) == 0 {
                friend(&mut rng)
            } else {
                rng.below(sh.names.len())
            };
            (Method::GET, format!("/api/users/{}", sh.names[v]), None)
        }
        Kind::UserPosts => {
            let v = friend(&mut rng);
            let path = format!("/api/users/{}/posts?limit=20", sh.names[v]);
            (Method::GET, path, None)
        }
        Kind::Post | Kind::Comments | Kind::Like | Kind::Comment => {
            let Some(post) = sh.friend_post(u, &mut rng) else {
                sh.note(format!("{}: no post to pick", kind.label()));
                sh.inflight.fetch_sub(1, Relaxed);
                return;
            };
            match kind {
                Kind::Post => (Method::GET, format!("/api/posts/{post}"), None),
                Kind::Comments => (
                    Method::GET,
                    format!("/api/posts/{post}/comments?limit=20"),
                    None,
                ),
                Kind::Comment => (
                    Method::POST,
                    format!("/api/posts/{post}/comments"),
                    Some(json!({"body": format!("nice {}", rng.words(3))})),
                ),
                _ => {
                    let liked = sh
                        .likes
                        .lock()
                        .is_ok_and(|l| l.contains(&(u, post.clone())));
                    let m = if liked { Method::DELETE } else { Method::PUT };
                    let path = format!("/api/posts/{post}/like");
                    liking = Some((post, !liked));
                    (m, path, None)
                }
            }
        }
        Kind::CreatePost => {
            let vis = if rng.below(2) == 0 {
                "public"
            } else {
                "friends"
            };
            let body = json!({"body": rng.words(8), "visibility": vis});
            (Method::POST, "/api/posts".to_string(), Some(body))
        }
        Kind::Search => {
            let q = if rng.below(4) == 0 {
                // A name prefix: "soak12" matches soak12, soak120…
                format!("soak{}", rng.below(sh.names.len().div_ceil(10)))
            } else {
                WORDS[rng.below(WORDS.len())].to_string()
            };
            (Method::GET, format!("/api/search?q={q}&limit=20"), None)
        }
        Kind::Notifications => (Method::GET, "/api/notifications?limit=20".to_string(), None),
        Kind::NotificationsRead => (Method::POST, "/api/notifications/read".to_string(), None),
        Kind::Conversations => (Method::GET, "/api/conversations?limit=20".to_string(), None),
        Kind::Messages => {
            let mine: Vec<&Conv> = sh.convs.iter().filter(|c| c.members.contains(&u)).collect();
            let c = mine[rng.below(mine.len())];
            let path = format!("/api/conversations/{}/messages?limit=50", c.id);
            (Method::GET, path, None)
        }
        Kind::RealtimeConfig => (Method::GET, "/api/realtime/config".to_string(), None),
        Kind::Ticket => (Method::POST, "/api/realtime/ticket".to_string(), None),
    };
    let began = Instant::now();
    let res = sh.api(u, method, &path, body).await;
    if let Ok(v) = &res {
        match kind {
            Kind::CreatePost => match v["post"]["id"].as_str() {
                Some(id) => {
                    if let Ok(mut p) = sh.posts.write() {
                        p[u].push(id.to_string());
                    }
                }
                None => sh.note("POST /api/posts: no post id".into()),
            },
            Kind::Like => {
                if let (Some((post, liked)), Ok(mut l)) = (liking, sh.likes.lock()) {
                    if liked {
                        l.insert((u, post));
                    } else {
                        l.remove(&(u, post));
                    }
                }
            }
            _ => {}
        }
    }
    sh.record(kind, &res, began);
    sh.inflight.fetch_sub(1, Relaxed);
}

/// Drives one request kind at `rate`/s until the run ends.
async fn http_driver(sh: Arc<Shared>, kind: Kind, rate: f64, seed: u64) {
    let mut rng = Rng(seed);
    let period = Duration::from_secs_f64(1.0 / rate);
    let phase = period.mul_f64(rng.below(1000) as f64 / 1000.0);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
    loop {
        tick.tick().await;
        if sh.ended() {
            break;
        }
        let u = rng.below(sh.names.len());
        tokio::spawn(http_op(sh.clone(), kind, u, rng.next_u64()));
    }
}

/// What a user's socket task is told to do.
enum Cmd {
    /// Type in the user's `slot`-th conversation, then send a message.
    Chat(usize),
    /// Go away for `offline` and come back; `clean`: with a close frame.
    Churn {
        offline: Duration,
        clean: bool,
    },
    Stop,
}

/// A conversation as one member sees it.
struct Slot {
    conv: usize,
    id: String,
    direct: bool,
    track: SeqTrack,
    /// Between our `sync` and its `synced`.
    syncing: bool,
}

/// A user's socket counters.
#[derive(Default, Clone)]
pub struct WsCounts {
    sends: u64,
    acks: u64,
    typing_sent: u64,
    reads_sent: u64,
    syncs_sent: u64,
    pings: u64,
    pongs: u64,
    live: u64,
    via_sync: u64,
    typing_recv: u64,
    read_recv: u64,
    presence_recv: u64,
    notif_recv: u64,
    reconnects: u64,
    // Errors.
    connect_errors: u64,
    lost: u64,
    error_frames: u64,
    missing_pongs: u64,
    send_errors: u64,
    bad_frames: u64,
}

impl WsCounts {
    fn add(&mut self, o: &WsCounts) {
        macro_rules! sum {
            ($($f:ident),*) => { $(self.$f += o.$f;)* };
        }
        sum!(
            sends,
            acks,
            typing_sent,
            reads_sent,
            syncs_sent,
            pings,
            pongs,
            live,
            via_sync,
            typing_recv,
            read_recv,
            presence_recv,
            notif_recv,
            reconnects,
            connect_errors,
            lost,
            error_frames,
            missing_pongs,
            send_errors,
            bad_frames
        );
    }

    fn errors(&self) -> u64 {
        self.connect_errors
            + self.lost
            + self.error_frames
            + self.missing_pongs
            + self.send_errors
            + self.bad_frames
    }
}

/// One user's connection and what it has seen.
struct User {
    sh: Arc<Shared>,
    u: usize,
    slots: Vec<Slot>,
    /// client_msg_id → (written at, slot).
    outstanding: std::collections::HashMap<String, (Instant, usize)>,
    /// (conversation, seq, acked at in µs since the epoch) of this
    /// user's acked messages.
    acked: Vec<(usize, i64, u64)>,
    /// Messages to send after their typing frame: (when, slot).
    pending: VecDeque<(tokio::time::Instant, usize)>,
    ping_out: Option<Instant>,
    n: u64,
    c: WsCounts,
}

/// What a user's task hands back.
struct UserOut {
    u: usize,
    slots: Vec<Slot>,
    acked: Vec<(usize, i64, u64)>,
    c: WsCounts,
    /// When (µs since the epoch) each send never acked was written.
    unacked: Vec<u64>,
}

impl User {
    fn new(sh: Arc<Shared>, u: usize) -> User {
        let slots = sh
            .convs
            .iter()
            .enumerate()
            .filter(|(_, c)| c.members.contains(&u))
            .map(|(i, c)| Slot {
                conv: i,
                id: c.id.clone(),
                direct: c.members.len() == 2,
                track: SeqTrack::default(),
                syncing: false,
            })
            .collect();
        User {
            sh,
            u,
            slots,
            outstanding: Default::default(),
            acked: Vec::new(),
            pending: VecDeque::new(),
            ping_out: None,
            n: 0,
            c: WsCounts::default(),
        }
    }

    /// Connects as the web client does: the realtime config, then `/ws`
    /// with the session cookie, or (users past the run's WebSocket share)
    /// a ticket and `/wt`; then `sync` for each conversation from the last
    /// message seen in order. Retries a few times.
    async fn connect(&mut self) -> Option<Link> {
        let sh = self.sh.clone();
        let over_wt = sh.over_webtransport(self.u);
        for attempt in 0..CONNECT_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let began = Instant::now();
            let cfg = sh
                .api(self.u, Method::GET, "/api/realtime/config", None)
                .await;
            let cfg = cfg.and_then(|v| {
                match v["websocket"]["url"].as_str() {
                    Some(url) if url == sh.ws_url => {}
                    Some(url) => bail!("unexpected websocket url {url}"),
                    None => bail!("no websocket url in {v}"),
                }
                if over_wt && v["webtransport"]["url"].as_str().is_none() {
                    bail!("no webtransport url in {v}");
                }
                Ok(v)
            });
            sh.record(Kind::RealtimeConfig, &cfg, began);
            let Ok(cfg) = cfg else {
                self.c.connect_errors += 1;
                continue;
            };
            let link = tokio::time::timeout(CONNECT_TIMEOUT, async {
                if over_wt {
                    self.webtransport(&cfg).await
                } else {
                    realtime::connect_from(&sh.base, &sh.cookies[self.u], sh.source(self.u))
                        .await
                        .map(|ws| Link::Ws(Box::new(ws)))
                }
            })
            .await
            .context("timed out")
            .and_then(|r| r);
            let mut ws = match link {
                Ok(ws) => ws,
                Err(e) => {
                    self.c.connect_errors += 1;
                    sh.note(format!("{} connecting: {e:#}", sh.names[self.u]));
                    continue;
                }
            };
            sh.connected.fetch_add(1, Relaxed);
            for i in 0..self.slots.len() {
                let s = &mut self.slots[i];
                let frame =
                    json!({"type": "sync", "conversation_id": s.id, "after_seq": s.track.contig});
                s.syncing = true;
                self.c.syncs_sent += 1;
                self.write(&mut ws, frame.to_string()).await;
            }
            return Some(ws);
        }
        sh.note(format!(
            "{} could not connect in {CONNECT_ATTEMPTS} attempts",
            sh.names[self.u]
        ));
        None
    }

    /// A WebTransport session as the web client opens one: a ticket
    /// (`POST /api/realtime/ticket`, timed with the API's requests), then
    /// the published URL, trusting the published certificate hashes.
    async fn webtransport(&self, cfg: &Value) -> anyhow::Result<Link> {
        let sh = &self.sh;
        let url = published_url(cfg)?;
        let clients = sh
            .wt
            .get_or_try_init(|| async { WtClients::new(&sh.sources, cfg) })
            .await?;
        let began = Instant::now();
        let ticket = sh
            .api(self.u, Method::POST, "/api/realtime/ticket", None)
            .await;
        sh.record(Kind::Ticket, &ticket, began);
        let ticket = ticket?;
        let ticket = ticket["ticket"].as_str().context("no ticket")?;
        clients
            .connect(sh.first + self.u, url, ticket, &sh.base)
            .await
    }

    async fn write(&mut self, ws: &mut Link, text: String) -> bool {
        if let Err(e) = ws.send(text).await {
            self.c.send_errors += 1;
            self.sh
                .note(format!("{} writing a frame: {e}", self.sh.names[self.u]));
            return false;
        }
        true
    }

    async fn typing(&mut self, ws: &mut Link, slot: usize) {
        let f = json!({"type": "typing", "conversation_id": self.slots[slot].id});
        if self.write(ws, f.to_string()).await {
            self.c.typing_sent += 1;
        }
    }

    async fn send(&mut self, ws: &mut Link, slot: usize) {
        self.n += 1;
        let cid = format!("u{}-{}", self.u, self.n);
        let t = self.sh.epoch.elapsed().as_micros();
        let body = format!("t={t} {}", Rng(t as u64 ^ self.n).words(5));
        let frame = Proto::Kith.send_frame(&self.slots[slot].id, &cid, &body);
        let now = Instant::now();
        if self.write(ws, frame).await {
            self.c.sends += 1;
            self.outstanding.insert(cid, (now, slot));
            self.sh.unacked.fetch_add(1, Relaxed);
        }
    }

    async fn ping(&mut self, ws: &mut Link) {
        if let Some(at) = self.ping_out.take() {
            self.c.missing_pongs += 1;
            self.sh.note(format!(
                "{}: no pong {:.1} s after a ping",
                self.sh.names[self.u],
                at.elapsed().as_secs_f64()
            ));
        }
        if self.write(ws, r#"{"type":"ping"}"#.into()).await {
            self.c.pings += 1;
            self.ping_out = Some(Instant::now());
        }
    }

    fn slot_of(&self, v: &Value) -> Option<usize> {
        let id = v["conversation_id"].as_str()?;
        self.slots.iter().position(|s| s.id == id)
    }

    /// Handles a frame from the server.
    async fn frame(&mut self, ws: &mut Link, text: &str) {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            self.c.bad_frames += 1;
            self.sh.note(format!("not JSON: {text}"));
            return;
        };
        match v["type"].as_str() {
            Some("ack") => {
                let cid = v["client_msg_id"].as_str().unwrap_or_default();
                match (self.outstanding.remove(cid), v["seq"].as_i64()) {
                    (Some((sent, slot)), Some(seq)) => {
                        if self.sh.measuring()
                            && let Ok(mut h) = self.sh.ack.lock()
                        {
                            let _ = h.record(sent.elapsed().as_micros().max(1) as u64);
                        }
                        self.slots[slot].track.record(seq);
                        self.acked
                            .push((self.slots[slot].conv, seq, self.sh.now_us()));
                        self.c.acks += 1;
                        self.sh.unacked.fetch_sub(1, Relaxed);
                    }
                    _ => {
                        self.c.bad_frames += 1;
                        self.sh.note(format!("unexpected ack {text}"));
                    }
                }
            }
            Some("message") => self.message(ws, &v).await,
            Some("synced") => match self.slot_of(&v) {
                Some(slot) => {
                    self.slots[slot].syncing = false;
                    let last = v["last_seq"].as_i64().unwrap_or(0);
                    if last > 0 {
                        // Caught up: the client marks the conversation read.
                        let id = self.slots[slot].id.clone();
                        let f = json!({"type": "read", "conversation_id": id, "seq": last});
                        if self.write(ws, f.to_string()).await {
                            self.c.reads_sent += 1;
                        }
                    }
                }
                None => {
                    self.c.bad_frames += 1;
                    self.sh
                        .note(format!("synced for a stranger's conversation: {text}"));
                }
            },
            Some("typing") => self.c.typing_recv += 1,
            Some("read") => self.c.read_recv += 1,
            Some("presence") => self.c.presence_recv += 1,
            Some("notification") => self.c.notif_recv += 1,
            Some("pong") => {
                self.c.pongs += 1;
                self.ping_out = None;
            }
            Some("error") => {
                self.c.error_frames += 1;
                self.sh
                    .note(format!("{}: error frame {text}", self.sh.names[self.u]));
            }
            _ => {}
        }
    }

    async fn message(&mut self, ws: &mut Link, v: &Value) {
        let (Some(slot), Some(seq)) = (self.slot_of(v), v["seq"].as_i64()) else {
            self.c.bad_frames += 1;
            self.sh.note(format!("unexpected message {v}"));
            return;
        };
        let s = &mut self.slots[slot];
        let new = s.track.record(seq);
        let (direct, syncing, id) = (s.direct, s.syncing, s.id.clone());
        if v["sender"].as_str() == Some(self.sh.names[self.u].as_str()) || !new {
            // Our own message replayed by `sync`, or one seen already.
            return;
        }
        if syncing {
            self.c.via_sync += 1;
            return;
        }
        self.c.live += 1;
        let stamp = v["body"]
            .as_str()
            .and_then(|b| b.strip_prefix("t="))
            .and_then(|b| b.split(' ').next())
            .and_then(|t| t.parse::<u64>().ok());
        let Some(sent) = stamp else {
            self.c.bad_frames += 1;
            self.sh.note(format!("message without a stamp: {v}"));
            return;
        };
        if self.sh.in_window(sent)
            && let Ok(mut h) = self.sh.delivery.lock()
        {
            let _ = h.record(self.sh.now_us().saturating_sub(sent).max(1));
        }
        // Read receipts: every message of a direct conversation, a quarter
        // of a group's (members who have it open).
        if direct || (seq as usize + self.u).is_multiple_of(4) {
            let f = json!({"type": "read", "conversation_id": id, "seq": seq});
            if self.write(ws, f.to_string()).await {
                self.c.reads_sent += 1;
            }
        }
    }

    /// Leaves (with a close frame if `clean`, else by dropping the TCP
    /// connection), stays away for `offline`, comes back.
    async fn churn(&mut self, ws: Link, offline: Duration, clean: bool) -> Option<Link> {
        ws.close(clean).await;
        self.sh.connected.fetch_sub(1, Relaxed);
        self.ping_out = None;
        tokio::time::sleep(offline).await;
        let ws = self.connect().await;
        self.c.reconnects += 1;
        self.sh.churning[self.u].store(false, Relaxed);
        ws
    }

    fn drop_pending(&mut self) {
        let n = self.pending.len() as i64;
        self.pending.clear();
        self.sh.pending_sends.fetch_sub(n, Relaxed);
    }

    /// The socket task: runs until told to stop.
    async fn run(mut self, mut ws: Link, mut rx: mpsc::Receiver<Cmd>) -> UserOut {
        let phase = PING_EVERY.mul_f64(((self.sh.first + self.u) % 1000) as f64 / 1000.0);
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY + phase, PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut churn: Option<(Duration, bool, Instant)> = None;
        loop {
            let next_send = self.pending.front().map(|p| p.0);
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Chat(slot)) => {
                        self.typing(&mut ws, slot).await;
                        self.pending.push_back((tokio::time::Instant::now() + TYPING_LEAD, slot));
                    }
                    Some(Cmd::Churn { offline, clean }) => churn = Some((offline, clean, Instant::now())),
                    Some(Cmd::Stop) | None => break,
                },
                _ = tokio::time::sleep_until(next_send.unwrap_or_else(tokio::time::Instant::now)), if next_send.is_some() => {
                    if let Some((_, slot)) = self.pending.pop_front() {
                        self.send(&mut ws, slot).await;
                        self.sh.pending_sends.fetch_sub(1, Relaxed);
                    }
                }
                _ = ping.tick() => self.ping(&mut ws).await,
                m = ws.next() => {
                    let lost = match m {
                        Event::Text(t) => { self.frame(&mut ws, &t).await; None }
                        Event::Lost(why) => Some(why),
                    };
                    if let Some(why) = lost {
                        self.c.lost += 1;
                        self.sh.note(format!("{}: {why}", self.sh.names[self.u]));
                        self.sh.connected.fetch_sub(1, Relaxed);
                        // As the web client would: reconnect.
                        self.ping_out = None;
                        match self.connect().await {
                            Some(w) => ws = w,
                            None => return self.finish(rx, None, churn.is_some()).await,
                        }
                    }
                }
            }
            if let Some((offline, clean, asked)) = churn
                && (self.outstanding.is_empty() || asked.elapsed() > CHURN_ACK_WAIT)
            {
                churn = None;
                match self.churn(ws, offline, clean).await {
                    Some(w) => ws = w,
                    None => return self.finish(rx, None, false).await,
                }
            }
        }
        self.finish(rx, Some(ws), churn.is_some()).await
    }

    /// Closes the socket (if any), settles the shared counters and hands
    /// back what this user saw.
    async fn finish(
        mut self,
        mut rx: mpsc::Receiver<Cmd>,
        ws: Option<Link>,
        churn_asked: bool,
    ) -> UserOut {
        if churn_asked {
            self.sh.churning[self.u].store(false, Relaxed);
        }
        self.drop_pending();
        if let Some(ws) = ws {
            ws.close(true).await;
            self.sh.connected.fetch_sub(1, Relaxed);
        }
        // Drain what the drivers may still have queued.
        rx.close();
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Cmd::Chat(_) => {
                    self.sh.pending_sends.fetch_sub(1, Relaxed);
                }
                Cmd::Churn { .. } => self.sh.churning[self.u].store(false, Relaxed),
                Cmd::Stop => {}
            }
        }
        let epoch = self.sh.epoch;
        let unacked = self
            .outstanding
            .values()
            .map(|(at, _)| at.duration_since(epoch).as_micros() as u64)
            .collect();
        UserOut {
            u: self.u,
            slots: self.slots,
            acked: self.acked,
            c: self.c,
            unacked,
        }
    }
}

/// Chat: at `rate`/s a random user types, then sends, in one of their
/// conversations.
async fn chat_driver(sh: Arc<Shared>, txs: Arc<Vec<mpsc::Sender<Cmd>>>, rate: f64) {
    let mut rng = Rng(0xC4A7 ^ sh.first as u64);
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        if sh.ended() {
            break;
        }
        let u = rng.below(txs.len());
        let slots = sh.convs.iter().filter(|c| c.members.contains(&u)).count();
        sh.pending_sends.fetch_add(1, Relaxed);
        if txs[u].try_send(Cmd::Chat(rng.below(slots))).is_err() {
            sh.pending_sends.fetch_sub(1, Relaxed);
            sh.skipped.fetch_add(1, Relaxed);
            sh.note(format!("{}: command queue full (chat)", sh.names[u]));
        }
    }
}

/// Churn: every `churn_every`, `churn_fraction` of the users go away for
/// 2 to 6 s and come back.
async fn churn_driver(sh: Arc<Shared>, txs: Arc<Vec<mpsc::Sender<Cmd>>>) -> u64 {
    let mut rng = Rng(0xC1124 ^ sh.first as u64);
    let every = sh.rates.churn_every;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let (mut asked, mut owed) = (0, 0.0);
    loop {
        tick.tick().await;
        if sh.ended() {
            break;
        }
        let per_round;
        (per_round, owed) = sh.rates.churn_round(txs.len(), owed);
        for _ in 0..per_round {
            let u = rng.below(txs.len());
            if sh.churning[u]
                .compare_exchange(false, true, Relaxed, Relaxed)
                .is_err()
            {
                continue;
            }
            let offline =
                Duration::from_millis(2000 + rng.below(CHURN_OFFLINE_SPREAD_MS as usize) as u64);
            let clean = rng.below(2) == 0;
            if txs[u].try_send(Cmd::Churn { offline, clean }).is_err() {
                sh.churning[u].store(false, Relaxed);
                sh.skipped.fetch_add(1, Relaxed);
                sh.note(format!("{}: command queue full (churn)", sh.names[u]));
            } else {
                asked += 1;
            }
        }
    }
    asked
}

/// One sample of the server process.
#[derive(Clone, Debug)]
struct Sample {
    t: f64,
    rss_kib: u64,
    fds: usize,
    threads: u64,
    /// CPU (user + system) in cores since the previous sample.
    cpu: f64,
    sockets: usize,
}

fn threads_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

pub fn cpu_total(pid: u32) -> f64 {
    let (u, s) = realtime::cpu_of(&pid.to_string());
    u + s
}

/// Samples the server every [`SAMPLE_EVERY`] from `start` through `until`.
async fn sampler(sh: Arc<Shared>, pid: u32, start: Instant, until: Duration) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::from_std(start), SAMPLE_EVERY);
    let mut last_cpu = (cpu_total(pid), start);
    loop {
        tick.tick().await;
        let t = start.elapsed();
        let rss_kib = match rss_of(pid) {
            Ok(r) => r,
            Err(e) => {
                sh.note(format!("reading the server's RSS: {e:#} (has it exited?)"));
                break;
            }
        };
        let cpu_now = (cpu_total(pid), Instant::now());
        let dt = cpu_now.1.duration_since(last_cpu.1).as_secs_f64();
        let cpu = if dt > 0.0 {
            (cpu_now.0 - last_cpu.0) / dt
        } else {
            0.0
        };
        last_cpu = cpu_now;
        let s = Sample {
            t: t.as_secs_f64(),
            rss_kib,
            fds: fds_of(pid),
            threads: threads_of(pid),
            cpu,
            sockets: sh.connected.load(Relaxed),
        };
        eprintln!(
            "soak t={:.0}s rss={:.1}MiB fds={} threads={} cpu={:.2} sockets={} in-flight={}",
            s.t,
            s.rss_kib as f64 / 1024.0,
            s.fds,
            s.threads,
            s.cpu,
            s.sockets,
            sh.inflight.load(Relaxed)
        );
        out.push(s);
        if t + SAMPLE_EVERY / 2 >= until {
            break;
        }
    }
    out
}

/// Signs up the users, befriends the circles, opens the conversations and
/// writes the posts. Returns the names, cookies and conversations.
async fn setup(
    base: &str,
    client: &reqwest::Client,
    first: usize,
    n: usize,
) -> anyhow::Result<(Vec<String>, Vec<String>, Vec<Conv>, Vec<Vec<String>>)> {
    let t = Instant::now();
    let names: Vec<String> = (first..first + n).map(|i| format!("soak{i}")).collect();
    let cookies = realtime::signup(client, base, &names).await?;
    eprintln!(
        "soak setup: {n} signups in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let pairs = friend_pairs(n, CIRCLE);
    let results: Vec<anyhow::Result<()>> = stream::iter(pairs.iter().copied())
        .map(|(a, b)| {
            let (names, cookies) = (&names, &cookies);
            async move { befriend(client, base, &cookies[a], &cookies[b], &names[b]).await }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    eprintln!(
        "soak setup: {} friendships in {:.1} s",
        pairs.len(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let members = conversation_members(n, CIRCLE);
    let ids: Vec<anyhow::Result<String>> = stream::iter(members.iter())
        .map(|m| {
            let (names, cookies) = (&names, &cookies);
            async move {
                let others: Vec<&String> = m[1..].iter().map(|&k| &names[k]).collect();
                let body = if m.len() == 2 {
                    json!({"members": others})
                } else {
                    json!({"members": others, "title": format!("circle {}", m[0] / CIRCLE)})
                };
                let r = call(
                    client,
                    Method::POST,
                    format!("{base}/api/conversations"),
                    Some(&cookies[m[0]]),
                    Some(body),
                )
                .await?;
                Ok(r["id"].as_str().context("conversation id")?.to_string())
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .collect()
        .await;
    let convs: Vec<Conv> = ids
        .into_iter()
        .zip(members)
        .map(|(id, members)| id.map(|id| Conv { id, members }))
        .collect::<anyhow::Result<_>>()?;
    eprintln!(
        "soak setup: {} conversations in {:.1} s",
        convs.len(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let made: Vec<anyhow::Result<(usize, String)>> =
        stream::iter((0..n * POSTS_EACH).map(|k| (k % n, k)))
            .map(|(u, k)| {
                let cookies = &cookies;
                async move {
                    let mut rng = Rng(k as u64);
                    let vis = if k % 2 == 0 { "public" } else { "friends" };
                    let r = call(
                        client,
                        Method::POST,
                        format!("{base}/api/posts"),
                        Some(&cookies[u]),
                        Some(json!({"body": rng.words(8), "visibility": vis})),
                    )
                    .await?;
                    Ok((u, r["post"]["id"].as_str().context("post id")?.to_string()))
                }
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .collect()
            .await;
    let mut posts = vec![Vec::new(); n];
    for p in made {
        let (u, id) = p?;
        posts[u].push(id);
    }
    eprintln!(
        "soak setup: {} posts in {:.1} s",
        n * POSTS_EACH,
        t.elapsed().as_secs_f64()
    );
    Ok((names, cookies, convs, posts))
}

/// The figures of a run.
struct Report {
    samples: Vec<Sample>,
    http: Vec<KindStats>,
    ws: WsCounts,
    churns: u64,
    unacked: u64,
    expected: u64,
    undelivered: u64,
    delivery: Histogram<u64>,
    ack: Histogram<u64>,
    max_inflight: usize,
    skipped: u64,
    other_errors: u64,
    errors: Vec<String>,
    loadgen_cpu: f64,
    rss_setup_kib: u64,
    rss_open_kib: u64,
    setup_secs: f64,
    open_secs: f64,
}

/// A cohort of users: its own friend circles and conversations, one
/// socket task per user, its own drivers at the run's rates.
pub struct Cohort {
    pub sh: Arc<Shared>,
    txs: Arc<Vec<mpsc::Sender<Cmd>>>,
    tasks: Vec<tokio::task::JoinHandle<UserOut>>,
    /// Users whose socket could not be opened (they have no task).
    pub failed: usize,
    pub setup_secs: f64,
    pub open_secs: f64,
}

/// What a cohort's users saw, once stopped.
pub struct Outcome {
    pub ws: WsCounts,
    /// Deliveries expected: acked messages × other members.
    pub expected: u64,
    /// When (µs since the epoch) the message of each missing delivery was
    /// acked, and each send never acked was written.
    pub missing: Vec<u64>,
    pub unacked: Vec<u64>,
    pub other_errors: u64,
}

impl Cohort {
    /// Sets up `n` users, numbered from `first` in the run.
    pub async fn setup(
        run: Arc<Run>,
        base: &str,
        client: reqwest::Client,
        first: usize,
        n: usize,
    ) -> anyhow::Result<Cohort> {
        let t = Instant::now();
        let (names, cookies, convs, posts) = setup(base, &client, first, n).await?;
        let setup_secs = t.elapsed().as_secs_f64();
        let mut friends = vec![Vec::new(); n];
        for (a, b) in friend_pairs(n, CIRCLE) {
            friends[a].push(b);
            friends[b].push(a);
        }
        let sh = Arc::new(Shared {
            run,
            ws_url: format!("ws://{}/ws", base.trim_start_matches("http://")),
            base: base.to_string(),
            client,
            first,
            names,
            cookies,
            friends,
            convs,
            posts: RwLock::new(posts),
            likes: Mutex::new(HashSet::new()),
            churning: (0..n).map(|_| AtomicBool::new(false)).collect(),
        });
        Ok(Cohort {
            sh,
            txs: Arc::new(Vec::new()),
            tasks: Vec::new(),
            failed: 0,
            setup_secs,
            open_secs: 0.0,
        })
    }

    /// Opens a socket for each user, read by its own task from the start.
    pub async fn open(&mut self) {
        let (sh, n) = (&self.sh, self.sh.names.len());
        let t = Instant::now();
        let mut txs = Vec::with_capacity(n);
        let mut rxs = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = mpsc::channel(64);
            txs.push(tx);
            rxs.push(Some(rx));
        }
        let rxs = Mutex::new(rxs);
        let opened: Vec<Option<tokio::task::JoinHandle<UserOut>>> = stream::iter(0..n)
            .map(|u| {
                let sh = sh.clone();
                let rx = rxs.lock().ok().and_then(|mut r| r[u].take());
                async move {
                    let mut user = User::new(sh.clone(), u);
                    let ws = user.connect().await?;
                    Some(tokio::spawn(user.run(ws, rx?)))
                }
            })
            .buffered(OPEN_CONCURRENCY)
            .collect()
            .await;
        self.failed = opened.iter().filter(|t| t.is_none()).count();
        self.tasks = opened.into_iter().flatten().collect();
        self.txs = Arc::new(txs);
        self.open_secs = t.elapsed().as_secs_f64();
        eprintln!(
            "{}: {} sockets open in {:.1} s ({} failed)",
            sh.name,
            n - self.failed,
            self.open_secs,
            self.failed
        );
    }

    /// Starts the cohort's drivers at the run's rates, until the run ends:
    /// the HTTP requests' and the chat's, and the churn's (which hands back
    /// how many reconnects it asked for).
    pub fn drive(
        &self,
    ) -> (
        Vec<tokio::task::JoinHandle<()>>,
        tokio::task::JoinHandle<u64>,
    ) {
        let (sh, n) = (&self.sh, self.txs.len() as f64);
        let mut drivers = Vec::new();
        for (i, (kind, rate)) in sh.rates.http.iter().enumerate() {
            let seed = (0x5EED + i as u64) ^ ((sh.first as u64) << 20);
            drivers.push(tokio::spawn(http_driver(sh.clone(), *kind, rate * n, seed)));
        }
        drivers.push(tokio::spawn(chat_driver(
            sh.clone(),
            self.txs.clone(),
            sh.rates.chat * n,
        )));
        let churner = tokio::spawn(churn_driver(sh.clone(), self.txs.clone()));
        (drivers, churner)
    }

    fn churning(&self) -> bool {
        self.sh.churning.iter().any(|c| c.load(Relaxed))
    }

    /// After the drivers stop: lets reconnects, typed messages, acks and
    /// requests finish (for at most [`QUIESCE`]), then gives the last
    /// deliveries [`GRACE`].
    pub async fn quiesce(cohorts: &[Cohort]) {
        let q = Instant::now();
        while q.elapsed() < QUIESCE {
            let busy = cohorts.iter().any(Cohort::churning) || cohorts.iter().any(|c| c.sh.busy());
            if !busy {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(GRACE).await;
    }

    /// Stops the socket tasks and checks delivery: every acked message
    /// must have reached every other member.
    pub async fn finish(self) -> Outcome {
        let sh = self.sh;
        for tx in self.txs.iter() {
            let _ = tx.send(Cmd::Stop).await;
        }
        let mut outs = Vec::with_capacity(self.tasks.len());
        let mut other_errors = 0;
        for t in self.tasks {
            match t.await {
                Ok(o) => outs.push(o),
                Err(e) => {
                    other_errors += 1;
                    sh.note(format!("a socket task failed: {e}"));
                }
            }
        }

        let mut acked_by_conv: Vec<Vec<(i64, usize, u64)>> = vec![Vec::new(); sh.convs.len()];
        let mut ws = WsCounts::default();
        let mut unacked = Vec::new();
        for o in &outs {
            ws.add(&o.c);
            unacked.extend_from_slice(&o.unacked);
            for &(conv, seq, at) in &o.acked {
                acked_by_conv[conv].push((seq, o.u, at));
            }
        }
        for list in &mut acked_by_conv {
            list.sort_unstable();
            let before = list.len();
            list.dedup_by_key(|e| e.0);
            if list.len() != before {
                other_errors += (before - list.len()) as u64;
                sh.note("two messages acked with the same seq".into());
            }
        }
        let (mut expected, mut missing) = (0, Vec::new());
        for o in &outs {
            for s in &o.slots {
                for &(seq, sender, at) in &acked_by_conv[s.conv] {
                    if sender == o.u {
                        continue;
                    }
                    expected += 1;
                    if !s.track.has(seq) {
                        missing.push(at);
                        if missing.len() <= 5 {
                            sh.note(format!(
                                "seq {seq} of conversation {} never reached {}",
                                s.id, sh.names[o.u]
                            ));
                        }
                    }
                }
            }
        }
        if !unacked.is_empty() {
            sh.note(format!("{} sends never acked", unacked.len()));
        }
        Outcome {
            ws,
            expected,
            missing,
            unacked,
            other_errors,
        }
    }
}

async fn soak(opts: &Opts, server: &Server, n: usize) -> anyhow::Result<Report> {
    let pid = server.pid().context("kith has exited")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let run = Arc::new(Run::new("soak", Rates::soak(), Vec::new()));
    let mut cohort = Cohort::setup(run.clone(), &server.base, client, 0, n).await?;
    let rss_setup_kib = rss_of(pid)?;
    cohort.open().await;
    if cohort.failed > 0 {
        bail!("{} of {n} sockets could not be opened", cohort.failed);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_open_kib = rss_of(pid)?;

    // The load.
    let start = run.start(opts.soak_warmup);
    run.end_at(start + opts.soak_duration);
    let cpu0 = realtime::cpu_secs();
    let (drivers, churner) = cohort.drive();
    let samples = tokio::spawn(sampler(cohort.sh.clone(), pid, start, opts.soak_duration));
    for d in drivers {
        d.await?;
    }
    let churns = churner.await?;
    let samples = samples.await?;
    let loadgen_cpu = (realtime::cpu_secs() - cpu0) / start.elapsed().as_secs_f64();

    let cohorts = [cohort];
    Cohort::quiesce(&cohorts).await;
    let [cohort] = cohorts;
    let (setup_secs, open_secs) = (cohort.setup_secs, cohort.open_secs);
    let mut other_errors = 0;
    if run.inflight.load(Relaxed) > 0 {
        other_errors += 1;
        run.note(format!(
            "{} requests still in flight at the end",
            run.inflight.load(Relaxed)
        ));
    }
    let out = cohort.finish().await;
    let w = run.take();
    Ok(Report {
        samples,
        http: w.http,
        ws: out.ws,
        churns,
        unacked: out.unacked.len() as u64,
        expected: out.expected,
        undelivered: out.missing.len() as u64,
        delivery: w.delivery,
        ack: w.ack,
        max_inflight: run.max_inflight.load(Relaxed),
        skipped: run.skipped.load(Relaxed),
        other_errors: other_errors + out.other_errors,
        errors: run.errors(),
        loadgen_cpu,
        rss_setup_kib,
        rss_open_kib,
        setup_secs,
        open_secs,
    })
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

pub async fn run(opts: &Opts) -> anyhow::Result<()> {
    let circles = (opts.soak_users / CIRCLE).max(3);
    let n = circles * CIRCLE;
    let secs = opts.soak_duration.as_secs_f64();
    let warm = opts.soak_warmup.as_secs_f64();
    anyhow::ensure!(warm < secs, "the warm-up must be shorter than the run");
    let rates = Rates::soak();
    let server = Server::start(opts, &["--no-webtransport"]).await?;
    let rss_idle_kib = server.rss_kib()?;
    let report = soak(opts, &server, n).await;
    server.stop().await;
    let r = report?;

    let http_rate = rates.http_total(n);
    println!("## Soak: {n} users connected for {secs:.0} s\n");
    println!(
        "One kith process (release build, `--no-webtransport --no-auth-limits`, the production per-user limits on writes and realtime sends left on) on a fresh data dir, on loopback. Setup: {n} users in friend circles of {CIRCLE} ({} friends each), {} conversations (two direct and one group of {CIRCLE} per user), {} posts; {:.0} s. Then {n} WebSockets, one per user, opened as the web client does (`GET /api/realtime/config`, then `/ws` with the session cookie) in {:.1} s, held for the whole run. Open-loop load at fixed rates: {http_rate:.0} HTTP requests/s ({:.3}/s per user), {:.0} chat messages/s (each after a typing frame), read receipts, an application ping per socket every {} s, and {} users dropping their socket every {} s (half with a close frame, half by dropping TCP), back after 2–6 s with `sync`. Latencies exclude the first {warm:.0} s (warm-up); counts and errors cover the whole run.\n",
        CIRCLE + 1,
        conversation_members(n, CIRCLE).len(),
        n * POSTS_EACH,
        r.setup_secs,
        r.open_secs,
        http_rate / n as f64,
        rates.chat * n as f64,
        PING_EVERY.as_secs(),
        rates.churn_round(n, 0.0).0,
        rates.churn_every.as_secs(),
    );

    println!("| t s | RSS MiB | open fds | threads | server CPU (cores) | sockets open |");
    println!("|---|---|---|---|---|---|");
    for s in &r.samples {
        println!(
            "| {:.0} | {} | {} | {} | {:.2} | {} |",
            s.t,
            mib(s.rss_kib),
            s.fds,
            s.threads,
            s.cpu,
            s.sockets
        );
    }
    println!();

    let after: Vec<&Sample> = r.samples.iter().filter(|s| s.t + 0.5 >= warm).collect();
    let start_kib = r.samples.first().map_or(0, |s| s.rss_kib);
    let warm_kib = after.first().map_or(0, |s| s.rss_kib);
    let end_kib = r.samples.last().map_or(0, |s| s.rss_kib);
    let max_kib = r.samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let min_after = after.iter().map(|s| s.rss_kib).min().unwrap_or(0);
    let max_after = after.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let points: Vec<(f64, f64)> = after
        .iter()
        .map(|s| (s.t / 60.0, s.rss_kib as f64))
        .collect();
    let slope_kib = slope(&points);
    let fd_points: Vec<(f64, f64)> = after.iter().map(|s| (s.t / 60.0, s.fds as f64)).collect();
    let fd_slope = slope(&fd_points);
    let span_min = after
        .last()
        .zip(after.first())
        .map_or(0.0, |(l, f)| (l.t - f.t) / 60.0);
    let fmt_slope = |s: Option<f64>| s.map_or("n/a".to_string(), |s| format!("{s:.1}"));
    let mean_cpu = if r.samples.len() > 1 {
        r.samples[1..].iter().map(|s| s.cpu).sum::<f64>() / (r.samples.len() - 1) as f64
    } else {
        0.0
    };
    println!("| memory and descriptors | value |");
    println!("|---|---|");
    println!("| RSS of the fresh process | {} MiB |", mib(rss_idle_kib));
    println!("| RSS after setup | {} MiB |", mib(r.rss_setup_kib));
    println!(
        "| RSS with all sockets open | {} MiB |",
        mib(r.rss_open_kib)
    );
    println!("| RSS at the start of the load | {} MiB |", mib(start_kib));
    println!(
        "| RSS at the end of warm-up ({warm:.0} s) | {} MiB |",
        mib(warm_kib)
    );
    println!("| RSS at the end | {} MiB |", mib(end_kib));
    println!("| RSS max | {} MiB |", mib(max_kib));
    println!(
        "| RSS after warm-up, min – max | {} – {} MiB |",
        mib(min_after),
        mib(max_after)
    );
    println!(
        "| RSS slope after warm-up (least squares, {} samples) | {} KiB/min (fit change over {span_min:.1} min: {} KiB) |",
        points.len(),
        fmt_slope(slope_kib),
        slope_kib.map_or("n/a".to_string(), |s| format!("{:.0}", s * span_min))
    );
    println!(
        "| open fds at the end of warm-up / at the end | {} / {} (slope {} per min) |",
        after.first().map_or(0, |s| s.fds),
        r.samples.last().map_or(0, |s| s.fds),
        fmt_slope(fd_slope)
    );
    println!("| server CPU, mean | {mean_cpu:.2} cores |");
    println!("| load generator CPU, mean | {:.2} cores |", r.loadgen_cpu);
    println!();

    println!("| HTTP request | offered /s | count | errors | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    let mut all = hist();
    let (mut requests, mut http_errors) = (0, 0);
    for (i, s) in r.http.iter().enumerate() {
        let kind = rates
            .http
            .iter()
            .find(|(k, _)| *k as usize == i)
            .map(|(k, r)| (*k, format!("{:.1}", r * n as f64)))
            .unwrap_or((ALL_KINDS[i], "(reconnects)".into()));
        requests += s.count;
        http_errors += s.errors;
        let _ = all.add(&s.hist);
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            kind.0.label(),
            kind.1,
            s.count,
            s.errors,
            ms(&s.hist, 0.5),
            ms(&s.hist, 0.99)
        );
    }
    println!(
        "| all | {http_rate:.1} | {requests} | {http_errors} | {} | {} |",
        ms(&all, 0.5),
        ms(&all, 0.99)
    );
    println!();

    let w = &r.ws;
    println!("| realtime | value |");
    println!("|---|---|");
    println!("| chat messages sent / acked | {} / {} |", w.sends, w.acks);
    println!(
        "| deliveries expected (acked messages × other members) | {} |",
        r.expected
    );
    println!(
        "| delivered live / caught up by `sync` after a reconnect / never | {} / {} / {} |",
        w.live, w.via_sync, r.undelivered
    );
    println!(
        "| delivery latency (send → member reads it), p50 / p99 / max ms | {} / {} / {} |",
        ms(&r.delivery, 0.5),
        ms(&r.delivery, 0.99),
        ms(&r.delivery, 1.0)
    );
    println!(
        "| ack latency (send → ack), p50 / p99 ms | {} / {} |",
        ms(&r.ack, 0.5),
        ms(&r.ack, 0.99)
    );
    println!(
        "| typing frames sent / received | {} / {} |",
        w.typing_sent, w.typing_recv
    );
    println!(
        "| read receipts sent / received | {} / {} |",
        w.reads_sent, w.read_recv
    );
    println!("| syncs sent | {} |", w.syncs_sent);
    println!("| presence frames received | {} |", w.presence_recv);
    println!("| notification frames received | {} |", w.notif_recv);
    println!("| pings / pongs | {} / {} |", w.pings, w.pongs);
    println!(
        "| churn: reconnects asked / done | {} / {} |",
        r.churns, w.reconnects
    );
    println!("| most HTTP requests in flight | {} |", r.max_inflight);
    println!();

    let errors = http_errors + w.errors() + r.unacked + r.undelivered + r.skipped + r.other_errors;
    println!(
        "Errors: {errors} (HTTP {http_errors}; socket connects failed {}, sockets lost {}, error frames {}, missing pongs {}, frame writes failed {}, unexpected frames {}; sends never acked {}; deliveries missing {}; commands the load generator could not queue {}; other {}).\n",
        w.connect_errors,
        w.lost,
        w.error_frames,
        w.missing_pongs,
        w.send_errors,
        w.bad_frames,
        r.unacked,
        r.undelivered,
        r.skipped,
        r.other_errors
    );
    for e in &r.errors {
        println!("- {e}");
    }
    if !r.errors.is_empty() {
        println!();
    }
    // rss_start_kib is where the measured window starts: the end of the
    // warm-up.
    println!(
        "SOAK rss_start_kib={warm_kib} rss_end_kib={end_kib} slope_kib_per_min={} errors={errors} requests={requests} messages={}",
        fmt_slope(slope_kib),
        w.acks
    );
    if errors > 0 {
        bail!("soak: {errors} errors");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_is_the_least_squares_fit() {
        // y = 3x + 10 exactly.
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 10.0)).collect();
        assert!((slope(&line).expect("slope") - 3.0).abs() < 1e-9);
        // Symmetric noise around a flat line fits flat.
        let flat = [(0.0, 100.0), (1.0, 102.0), (2.0, 102.0), (3.0, 100.0)];
        assert!(slope(&flat).expect("slope").abs() < 1e-9);
        // (0,0), (1,1), (2,1), (3,2): slope 0.6.
        let pts = [(0.0, 0.0), (1.0, 1.0), (2.0, 1.0), (3.0, 2.0)];
        assert!((slope(&pts).expect("slope") - 0.6).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 5.0)]), None);
        assert_eq!(slope(&[(1.0, 5.0), (1.0, 7.0)]), None);
    }

    #[test]
    fn seq_track_counts_each_seq_once_in_any_order() {
        let mut t = SeqTrack::default();
        assert!(t.record(1));
        assert!(t.record(3));
        assert!(!t.record(3));
        assert!(!t.record(1));
        assert!(!t.record(0));
        assert_eq!(t.contig, 1);
        assert!(t.has(3) && !t.has(2) && !t.has(0));
        assert!(t.record(2));
        assert_eq!(t.contig, 3);
        assert!(t.above.is_empty());
        assert!(t.has(1) && t.has(2) && t.has(3) && !t.has(4));
    }

    #[test]
    fn circles_give_each_user_its_friends_and_three_conversations() {
        let n = 5 * CIRCLE;
        let pairs = friend_pairs(n, CIRCLE);
        let mut degree = vec![0; n];
        for &(a, b) in &pairs {
            assert!(a < b);
            degree[a] += 1;
            degree[b] += 1;
        }
        assert!(degree.iter().all(|&d| d == CIRCLE + 1), "{degree:?}");
        let convs = conversation_members(n, CIRCLE);
        assert_eq!(convs.len(), 5 * (CIRCLE + 1));
        for u in 0..n {
            let mine: Vec<&Vec<usize>> = convs.iter().filter(|c| c.contains(&u)).collect();
            assert_eq!(mine.len(), 3);
            assert_eq!(mine.iter().filter(|c| c.len() == 2).count(), 2);
            // Everyone in a conversation is a friend of its creator.
            for c in &mine {
                for &m in &c[1..] {
                    let p = (c[0].min(m), c[0].max(m));
                    assert!(pairs.binary_search(&p).is_ok());
                }
            }
        }
        // Two circles: the ring of circles has no duplicate pairs.
        let two = friend_pairs(2 * CIRCLE, CIRCLE);
        let unique: BTreeSet<_> = two.iter().collect();
        assert_eq!(unique.len(), two.len());
    }

    #[test]
    fn rng_stays_in_range_and_repeats_from_a_seed() {
        let mut a = Rng(7);
        let mut b = Rng(7);
        for _ in 0..1000 {
            let x = a.below(13);
            assert!(x < 13);
            assert_eq!(x, b.below(13));
        }
    }
}
