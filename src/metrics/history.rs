//! A node's last hour, minute by minute, kept in memory for the admin
//! console: requests, errors, p99 latency, and sampled gauges (live
//! connections, job-queue depth, replication lag).
//!
//! # What a request costs
//!
//! [`History::record`] reads the wall clock once (a vDSO call) and does
//! four relaxed `fetch_add`s on the current minute's counters (requests,
//! 5xx or 4xx, one latency bucket): no lock, no allocation. The request
//! path never touches the ring below.
//!
//! # How minutes roll
//!
//! Requests count into one of two slots, chosen by the parity of the
//! current minute, so a minute's slot stays still while the next minute
//! counts into the other one. [`History::roll`] (run by the sampler every
//! [`SAMPLE_EVERY`], and by every snapshot) drains a finished minute's slot
//! into the ring under a mutex that only the sampler and snapshots take,
//! and that is never held across an await. A minute's slot is reused two
//! minutes later; should nothing roll for over a minute (a stalled
//! runtime), two minutes of the same parity may be counted together.
//!
//! # Memory
//!
//! Fixed: two live slots of [`LATENCY_BUCKETS`] (200) counters, one copy
//! of the last finished minute's histogram (≈ 1.6 KB each, ≈ 5 KB), and a
//! ring of at most [`MINUTES`] points of 72 bytes (≈ 4.3 KB); under 10 KB
//! a node, however busy it is.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use kith_core::sync::Unpoisoned;

/// Minutes of history kept.
pub const MINUTES: usize = 60;
/// One point of history, in seconds.
pub const STEP_SECS: u64 = 60;
const STEP_MS: i64 = STEP_SECS as i64 * 1000;
/// How often the sampler reads the gauges (and rolls the minute).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);

/// Latency buckets are log-linear, as in HDR histograms: 8 per power of
/// two of microseconds (exact below 8 µs), up to 2^27 µs (≈ 134 s, past
/// the request timeout; slower requests count in the last bucket). A
/// quantile is reported as its bucket's upper bound: never below the true
/// value, and at most 12.5 % (or 1 µs) above it.
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
const MAX_MICROS: u64 = (1 << 27) - 1;
pub const LATENCY_BUCKETS: usize = (SUB + (27 - SUB_BITS as u64) * SUB) as usize;

type Latency = [u64; LATENCY_BUCKETS];

/// The bucket of a latency of `micros`.
fn bucket(micros: u64) -> usize {
    let v = micros.min(MAX_MICROS);
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let sub = (v >> (e - SUB_BITS)) & (SUB - 1);
    (SUB + u64::from(e - SUB_BITS) * SUB + sub) as usize
}

/// The smallest latency (µs) above bucket `i`: every value in it is below.
fn upper_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i + 1;
    }
    let k = i - SUB;
    let e = k / SUB + u64::from(SUB_BITS);
    let sub = k % SUB;
    (SUB + sub + 1) << (e - u64::from(SUB_BITS))
}

/// The `q` quantile (0 < q ≤ 1) of a histogram, in milliseconds; `None`
/// when it is empty. The nearest-rank definition: the smallest value with
/// at least `ceil(q × n)` samples at or below it, rounded up to its
/// bucket's upper bound.
pub fn quantile_ms(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(upper_bound(i) as f64 / 1000.0);
        }
    }
    None
}

/// One minute's request counters, written by the request path.
struct Slot {
    requests: AtomicU64,
    errors: AtomicU64,
    client_errors: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS],
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            client_errors: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

struct Counts {
    requests: u64,
    errors: u64,
    client_errors: u64,
    latency: Box<Latency>,
}

impl Slot {
    fn take(&self) -> Counts {
        let mut latency = Box::new([0; LATENCY_BUCKETS]);
        for (out, b) in latency.iter_mut().zip(&self.latency) {
            *out = b.swap(0, Ordering::Relaxed);
        }
        Counts {
            requests: self.requests.swap(0, Ordering::Relaxed),
            errors: self.errors.swap(0, Ordering::Relaxed),
            client_errors: self.client_errors.swap(0, Ordering::Relaxed),
            latency,
        }
    }

    fn read(&self) -> Counts {
        let mut latency = Box::new([0; LATENCY_BUCKETS]);
        for (out, b) in latency.iter_mut().zip(&self.latency) {
            *out = b.load(Ordering::Relaxed);
        }
        Counts {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            client_errors: self.client_errors.load(Ordering::Relaxed),
            latency,
        }
    }
}

/// One finished minute of one node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Minutes since the Unix epoch: the minute this point covers.
    pub minute: i64,
    pub requests: u64,
    /// Responses with a 5xx status.
    pub errors: u64,
    /// Responses with a 4xx status.
    pub client_errors: u64,
    /// The minute's p99 latency (to the response's head), when any
    /// request finished in it.
    pub p99_ms: Option<f64>,
    /// Peaks over the minute's samples; `None` when none was taken (the
    /// node was not running) or the value could not be known.
    pub connections: Option<i64>,
    pub queue_depth: Option<i64>,
    pub replication_lag_ms: Option<i64>,
}

impl Point {
    fn empty(minute: i64) -> Point {
        Point {
            minute,
            ..Point::default()
        }
    }

    /// Start of the minute, in ms since the epoch.
    pub fn at_ms(&self) -> i64 {
        self.minute * STEP_MS
    }
}

/// The gauges as sampled.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    pub connections: Option<i64>,
    pub queue_depth: Option<i64>,
    pub replication_lag_ms: Option<i64>,
}

fn peak(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

struct Ring {
    /// The minute now counting in its slot.
    minute: i64,
    /// Finished minutes, oldest first, at most [`MINUTES`].
    points: VecDeque<Point>,
    /// The last finished minute's histogram, for the current p99.
    prev_latency: Box<Latency>,
    prev_minute: i64,
    /// Peaks of the gauges sampled during `minute`.
    peaks: Gauges,
    /// The latest sample.
    last: Gauges,
}

/// A node's snapshot: the minute so far, and the last hour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    /// When it was taken (ms since the epoch), by the node's clock.
    pub at_ms: i64,
    /// When this node's history began (its start), ms.
    pub started_ms: i64,
    /// The current minute (since the epoch) and its counts so far.
    pub minute: i64,
    pub requests: u64,
    pub errors: u64,
    pub client_errors: u64,
    /// Over a sliding minute: the current minute so far plus the part of
    /// the previous one still inside the window (pro rata).
    pub requests_per_sec: f64,
    pub errors_per_min: f64,
    /// p99 over the previous minute and the current one so far.
    pub p99_ms: Option<f64>,
    /// Live now.
    pub connections: i64,
    /// As last sampled.
    pub queue_depth: Option<i64>,
    pub replication_lag_ms: Option<i64>,
    /// [`MINUTES`] finished minutes, oldest first, ending with the one
    /// before `minute`; minutes without data are empty points.
    pub series: Vec<Point>,
}

/// Requests and samples of one node over the last hour.
pub struct History {
    slots: [Slot; 2],
    ring: Mutex<Ring>,
    started_ms: i64,
}

impl Default for History {
    fn default() -> Self {
        History::starting_at(kith_core::ids::now_ms())
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("started_ms", &self.started_ms)
            .finish_non_exhaustive()
    }
}

fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(STEP_MS)
}

impl History {
    fn starting_at(now_ms: i64) -> History {
        let minute = minute_of(now_ms);
        History {
            slots: [Slot::default(), Slot::default()],
            ring: Mutex::new(Ring {
                minute,
                points: VecDeque::with_capacity(MINUTES),
                prev_latency: Box::new([0; LATENCY_BUCKETS]),
                prev_minute: minute - 1,
                peaks: Gauges::default(),
                last: Gauges::default(),
            }),
            started_ms: now_ms,
        }
    }

    /// Counts one finished request (see the module's note on its cost).
    pub fn record(&self, status: u16, latency: Duration) {
        self.record_at(kith_core::ids::now_ms(), status, latency);
    }

    fn record_at(&self, now_ms: i64, status: u16, latency: Duration) {
        let slot = &self.slots[(minute_of(now_ms) & 1) as usize];
        slot.requests.fetch_add(1, Ordering::Relaxed);
        match status {
            500..=599 => {
                slot.errors.fetch_add(1, Ordering::Relaxed);
            }
            400..=499 => {
                slot.client_errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        slot.latency[bucket(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// Records the gauges' current values (the sampler, every
    /// [`SAMPLE_EVERY`]).
    pub fn sample(&self, gauges: Gauges) {
        self.sample_at(kith_core::ids::now_ms(), gauges);
    }

    fn sample_at(&self, now_ms: i64, g: Gauges) {
        let mut ring = self.ring.write_lock();
        self.roll(&mut ring, minute_of(now_ms));
        ring.peaks = Gauges {
            connections: peak(ring.peaks.connections, g.connections),
            queue_depth: peak(ring.peaks.queue_depth, g.queue_depth),
            replication_lag_ms: peak(ring.peaks.replication_lag_ms, g.replication_lag_ms),
        };
        ring.last = g;
    }

    /// Moves every finished minute into the ring.
    fn roll(&self, ring: &mut Ring, now_minute: i64) {
        let first = ring.minute;
        if now_minute <= first {
            return;
        }
        // Only the last hour matters; and past the first two minutes both
        // slots were drained already.
        let from = first.max(now_minute - MINUTES as i64 - 1);
        for m in from..now_minute {
            let point = if m <= first + 1 {
                let c = self.slots[(m & 1) as usize].take();
                let mut p = Point {
                    minute: m,
                    requests: c.requests,
                    errors: c.errors,
                    client_errors: c.client_errors,
                    p99_ms: quantile_ms(&c.latency[..], 0.99),
                    ..Point::default()
                };
                if m == first {
                    let g = std::mem::take(&mut ring.peaks);
                    p.connections = g.connections;
                    p.queue_depth = g.queue_depth;
                    p.replication_lag_ms = g.replication_lag_ms;
                }
                ring.prev_latency = c.latency;
                ring.prev_minute = m;
                p
            } else {
                Point::empty(m)
            };
            if ring.points.len() == MINUTES {
                ring.points.pop_front();
            }
            ring.points.push_back(point);
        }
        ring.peaks = Gauges::default();
        ring.minute = now_minute;
    }

    /// The minute so far and the last hour; `connections` is the live
    /// count.
    pub fn snapshot(&self, connections: i64) -> NodeStats {
        self.snapshot_at(kith_core::ids::now_ms(), connections)
    }

    fn snapshot_at(&self, now_ms: i64, connections: i64) -> NodeStats {
        let now_minute = minute_of(now_ms);
        let mut ring = self.ring.write_lock();
        self.roll(&mut ring, now_minute);
        let live = self.slots[(now_minute & 1) as usize].read();
        let mut series = Vec::with_capacity(MINUTES);
        let mut have = ring.points.iter().peekable();
        for m in now_minute - MINUTES as i64..now_minute {
            while have.peek().is_some_and(|p| p.minute < m) {
                have.next();
            }
            match have.peek() {
                Some(p) if p.minute == m => series.push((*p).clone()),
                _ => series.push(Point::empty(m)),
            }
        }
        let prev = series.last().cloned().unwrap_or_default();
        let mut latency = *live.latency;
        if ring.prev_minute == now_minute - 1 {
            for (a, b) in latency.iter_mut().zip(ring.prev_latency.iter()) {
                *a += b;
            }
        }
        // A sliding minute: all of this one so far, and the share of the
        // previous one still inside the window; shorter when the node has
        // not been up that long.
        let into = (now_ms - now_minute * STEP_MS) as f64 / STEP_MS as f64;
        let window = ((now_ms - self.started_ms) as f64 / 1000.0).clamp(1.0, STEP_SECS as f64);
        let requests = prev.requests as f64 * (1.0 - into) + live.requests as f64;
        let errors = prev.errors as f64 * (1.0 - into) + live.errors as f64;
        NodeStats {
            at_ms: now_ms,
            started_ms: self.started_ms,
            minute: now_minute,
            requests: live.requests,
            errors: live.errors,
            client_errors: live.client_errors,
            requests_per_sec: requests / window,
            errors_per_min: errors * STEP_SECS as f64 / window,
            p99_ms: quantile_ms(&latency[..], 0.99),
            connections,
            queue_depth: ring.last.queue_depth,
            replication_lag_ms: ring.last.replication_lag_ms,
            series,
        }
    }
}

/// Estimates a LiteFS replica's lag in time from positions alone: each
/// position the primary announces (in its heartbeats, every 2 s) is noted
/// with when this node first saw it; the lag is how long ago the oldest
/// announced position this copy has not yet reached was first seen, and 0
/// when it has reached every one. It is a lower bound: the primary
/// committed that transaction before it announced it, and the sampler
/// looks every [`SAMPLE_EVERY`].
#[derive(Debug, Default)]
pub struct LagTracker {
    pending: VecDeque<(u64, i64)>,
}

/// Announced positions remembered at most (the oldest is what counts).
const LAG_PENDING: usize = 64;

impl LagTracker {
    /// `primary`: the primary's latest announced position; `local`: this
    /// copy's; `now_ms`: the time. Answers the lag in ms.
    pub fn observe(&mut self, primary: u64, local: u64, now_ms: i64) -> i64 {
        match self.pending.back() {
            // The database went back (a restore): start over.
            Some(&(p, _)) if primary < p => self.pending.clear(),
            _ => {}
        }
        let newer = self.pending.back().is_none_or(|&(p, _)| primary > p);
        if newer && primary > local && self.pending.len() < LAG_PENDING {
            self.pending.push_back((primary, now_ms));
        }
        while self.pending.front().is_some_and(|&(p, _)| p <= local) {
            self.pending.pop_front();
        }
        self.pending
            .front()
            .map_or(0, |&(_, seen)| (now_ms - seen).max(0))
    }

    /// Forgets everything (this node became the primary).
    pub fn reset(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_the_range_in_order() {
        assert_eq!(LATENCY_BUCKETS, 200);
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(7), 7);
        assert_eq!(bucket(8), 8);
        assert_eq!(bucket(MAX_MICROS), LATENCY_BUCKETS - 1);
        assert_eq!(bucket(u64::MAX), LATENCY_BUCKETS - 1);
        let mut last = 0;
        for v in 0..200_000u64 {
            let b = bucket(v);
            assert!(b == last || b == last + 1, "{v}: {b} after {last}");
            assert!(v < upper_bound(b), "{v} not below its bound");
            if b > 0 {
                assert!(v >= upper_bound(b - 1), "{v} below its bucket");
            }
            last = b;
        }
        // The bound is within 12.5 % of every value in the bucket.
        for v in [8u64, 9, 100, 999, 1000, 12_345, 250_000, 5_000_000] {
            let ub = upper_bound(bucket(v)) as f64;
            assert!(ub <= v as f64 * 1.125 + 1.0, "{v}: {ub}");
        }
    }

    #[test]
    fn p99_of_known_samples() {
        let mut h = [0u64; LATENCY_BUCKETS];
        assert_eq!(quantile_ms(&h, 0.99), None);
        // 990 fast requests at 1 ms, 10 slow ones at 200 ms: the 990th is
        // the p99, still 1 ms; with one more slow one it is 200 ms.
        h[bucket(1_000)] += 990;
        h[bucket(200_000)] += 10;
        let p99 = quantile_ms(&h, 0.99).expect("p99");
        assert!((1.0..=1.125).contains(&p99), "{p99}");
        h[bucket(200_000)] += 1;
        let p99 = quantile_ms(&h, 0.99).expect("p99");
        assert!((200.0..=225.0).contains(&p99), "{p99}");
        // 1..=100 ms, one each: the p99 is 99 ms.
        let mut h = [0u64; LATENCY_BUCKETS];
        for ms in 1..=100u64 {
            h[bucket(ms * 1000)] += 1;
        }
        let p99 = quantile_ms(&h, 0.99).expect("p99");
        assert!((99.0..=99.0 * 1.125).contains(&p99), "{p99}");
        // One sample: it is every quantile.
        let mut h = [0u64; LATENCY_BUCKETS];
        h[bucket(42_000)] = 1;
        let p = quantile_ms(&h, 0.99).expect("p99");
        assert!((42.0..=42.0 * 1.125).contains(&p), "{p}");
    }

    const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % STEP_MS;

    #[test]
    fn requests_count_into_their_minute_and_errors_by_class() {
        let h = History::starting_at(T0);
        for status in [200, 204, 404, 403, 500, 503, 101] {
            h.record_at(T0 + 1_000, status, Duration::from_millis(3));
        }
        let s = h.snapshot_at(T0 + 2_000, 4);
        assert_eq!((s.requests, s.errors, s.client_errors), (7, 2, 2));
        assert_eq!(s.connections, 4);
        assert_eq!(s.series.len(), MINUTES);
        assert!(
            s.series
                .iter()
                .all(|p| p.requests == 0 && p.p99_ms.is_none())
        );
        let p99 = s.p99_ms.expect("p99");
        assert!((3.0..=3.375).contains(&p99), "{p99}");

        // The next minute: the first is in the series, the new one counts
        // apart.
        h.record_at(T0 + STEP_MS + 5, 200, Duration::from_millis(1));
        let s = h.snapshot_at(T0 + STEP_MS + 30_000, 0);
        assert_eq!(s.requests, 1);
        let last = s.series.last().expect("a point");
        assert_eq!(last.minute, minute_of(T0));
        assert_eq!((last.requests, last.errors, last.client_errors), (7, 2, 2));
        assert_eq!(
            s.series.first().expect("a point").minute,
            minute_of(T0) - 59
        );
        // Half of the previous minute is still in the window: (3.5 + 1)/60.
        assert!(
            (s.requests_per_sec - 4.5 / 60.0).abs() < 1e-9,
            "{}",
            s.requests_per_sec
        );
        assert!(
            (s.errors_per_min - 1.0).abs() < 1e-9,
            "{}",
            s.errors_per_min
        );

        // Totals over the series and the current minute never lose one.
        let total = |s: &NodeStats| s.requests + s.series.iter().map(|p| p.requests).sum::<u64>();
        assert_eq!(total(&s), 8);
        // (The sampler rolls every few seconds: a minute's slot is drained
        // before the minute two later counts into it.)
        h.snapshot_at(T0 + 3 * STEP_MS, 0);
        h.record_at(T0 + 3 * STEP_MS, 200, Duration::from_millis(1));
        let s = h.snapshot_at(T0 + 3 * STEP_MS + 1, 0);
        assert_eq!(total(&s), 9);
        assert_eq!(s.series[MINUTES - 1].requests, 0);
        assert_eq!(s.series[MINUTES - 2].requests, 1);
        assert_eq!(s.series[MINUTES - 3].requests, 7);
    }

    #[test]
    fn gauges_keep_each_minutes_peak_and_the_hour_is_bounded() {
        let h = History::starting_at(T0);
        let g = |c, q, l| Gauges {
            connections: Some(c),
            queue_depth: Some(q),
            replication_lag_ms: l,
        };
        h.sample_at(T0 + 1_000, g(3, 10, Some(0)));
        h.sample_at(T0 + 3_000, g(5, 2, None));
        h.sample_at(T0 + 5_000, g(1, 4, Some(7)));
        let s = h.snapshot_at(T0 + STEP_MS, 9);
        let p = s.series.last().expect("point");
        assert_eq!(
            (p.connections, p.queue_depth, p.replication_lag_ms),
            (Some(5), Some(10), Some(7))
        );
        assert_eq!((s.queue_depth, s.replication_lag_ms), (Some(4), Some(7)));
        // Two hours later: still 60 points, all empty.
        let s = h.snapshot_at(T0 + 120 * STEP_MS, 0);
        assert_eq!(s.series.len(), MINUTES);
        assert!(s.series.iter().all(|p| p.connections.is_none()));
        assert!(h.ring.write_lock().points.len() <= MINUTES);
    }

    #[test]
    fn lag_is_how_long_an_announced_position_has_been_waiting() {
        let mut t = LagTracker::default();
        assert_eq!(t.observe(5, 5, 1_000), 0);
        assert_eq!(t.observe(8, 5, 2_000), 0);
        assert_eq!(t.observe(9, 6, 4_000), 2_000);
        // Reaching 8 leaves 9, first seen at 4 s.
        assert_eq!(t.observe(9, 8, 5_000), 1_000);
        assert_eq!(t.observe(9, 9, 6_000), 0);
        // A restore that moved the database back starts over.
        assert_eq!(t.observe(3, 1, 7_000), 0);
        assert_eq!(t.observe(3, 1, 9_500), 2_500);
    }
}
