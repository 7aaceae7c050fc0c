//! Prometheus metrics, kept in atomics and rendered as text on `/metrics`;
//! and the last hour of them, minute by minute, for the admin console
//! ([`history`]).

pub mod history;
pub mod sampler;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kith_core::sync::Unpoisoned;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Counters every part of the node updates.
#[derive(Debug, Default)]
pub struct Metrics {
    /// route template → status → count.
    requests: Mutex<HashMap<String, HashMap<u16, u64>>>,
    pub gossip_in: AtomicU64,
    pub gossip_out: AtomicU64,
    /// Frames sent to, and received from, other nodes' users.
    pub deliveries_out: AtomicU64,
    pub deliveries_in: AtomicU64,
    pub forwarded_writes: AtomicU64,
    pub forwarded_errors: AtomicU64,
    pub forwarded_latency: Histogram,
    /// The last hour, for the admin console.
    pub history: history::History,
}

/// Jobs queued or waiting for a retry (an indexed count: `jobs_status`).
pub async fn queue_depth(pool: &sqlx::SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'failed')")
        .fetch_one(pool)
        .await
}

impl Metrics {
    pub(crate) fn request(&self, route: &str, status: u16) {
        let mut m = self.requests.write_lock();
        // Looked up by `&str`: no allocation once a route has been seen.
        match m.get_mut(route) {
            Some(by_status) => *by_status.entry(status).or_insert(0) += 1,
            None => {
                m.insert(route.to_owned(), HashMap::from([(status, 1)]));
            }
        }
    }

    pub fn render(&self, connections: usize, queue_depth: Option<i64>) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP kith_http_requests_total HTTP requests by route and status.\n\
             # TYPE kith_http_requests_total counter\n",
        );
        {
            let m = self.requests.write_lock();
            let mut rows: Vec<(&String, &u16, &u64)> = m
                .iter()
                .flat_map(|(route, by)| by.iter().map(move |(s, n)| (route, s, n)))
                .collect();
            rows.sort();
            for (route, status, n) in rows {
                let route = route.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = writeln!(
                    out,
                    "kith_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        gauge(
            &mut out,
            "kith_live_connections",
            "Open WebSocket and WebTransport connections on this node.",
            "gauge",
            connections as u64,
        );
        gauge(
            &mut out,
            "kith_gossip_messages_in_total",
            "Gossip messages received.",
            "counter",
            self.gossip_in.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "kith_gossip_messages_out_total",
            "Gossip messages sent.",
            "counter",
            self.gossip_out.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "kith_deliveries_out_total",
            "Frames sent to users connected on other nodes.",
            "counter",
            self.deliveries_out.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "kith_deliveries_in_total",
            "Frames from other nodes for users connected here.",
            "counter",
            self.deliveries_in.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "kith_forwarded_writes_total",
            "Write commands forwarded to the primary.",
            "counter",
            self.forwarded_writes.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "kith_forwarded_write_errors_total",
            "Forwarded write commands that could not reach the primary.",
            "counter",
            self.forwarded_errors.load(Ordering::Relaxed),
        );
        self.forwarded_latency.render(
            &mut out,
            "kith_forwarded_write_seconds",
            "Latency of forwarded writes, until visible locally.",
        );
        if let Some(depth) = queue_depth {
            gauge(
                &mut out,
                "kith_job_queue_depth",
                "Jobs queued or waiting for a retry.",
                "gauge",
                depth.max(0) as u64,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative() {
        let m = Metrics::default();
        m.forwarded_latency.observe(Duration::from_micros(300));
        m.forwarded_latency.observe(Duration::from_millis(3));
        m.request("/api/posts", 201);
        m.request("/api/posts", 201);
        let text = m.render(4, Some(2));
        assert!(text.contains("kith_forwarded_write_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("kith_forwarded_write_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("kith_forwarded_write_seconds_count 2"));
        assert!(text.contains("kith_http_requests_total{route=\"/api/posts\",status=\"201\"} 2"));
        assert!(text.contains("kith_live_connections 4"));
        assert!(text.contains("kith_job_queue_depth 2"));
    }
}
