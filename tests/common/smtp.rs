//! A real SMTP server for the mail tests: `tests/mail/smtp_sink.py`
//! (aiosmtpd) as a child process, killed on drop. Every wait is bounded.

// Each test binary includes this file and uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::wait::TIMEOUT;

const SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail/smtp_sink.py");

/// How the sink misbehaves.
#[derive(Clone, Debug, Default)]
pub struct SinkOptions {
    /// `None`: a free port of its choosing.
    pub port: Option<u16>,
    /// Holds the first `stall_count` messages this long before answering
    /// their DATA.
    pub stall_data: Option<Duration>,
    pub stall_count: u32,
    /// Answers 451 to the first this many messages.
    pub fail_first: u32,
    /// Answers 554 to the first this many messages.
    pub reject_first: u32,
}

/// A message the sink accepted.
#[derive(Clone, Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The raw message, CRLF line ends.
    pub data: String,
}

impl Received {
    /// The (unfolded) value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut lines: Vec<String> = Vec::new();
        for line in head.split("\r\n") {
            match lines.last_mut() {
                Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
                _ => lines.push(line.to_owned()),
            }
        }
        lines.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// What follows the header.
    pub fn body(&self) -> &str {
        self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }
}

pub struct Sink {
    child: Child,
    pub port: u16,
    out: PathBuf,
    events: Arc<Mutex<Vec<(String, u64)>>>,
    _dir: TempDir,
}

/// A port nobody listens on now (for a server that comes up later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Sink {
    pub fn start() -> Sink {
        Sink::with(SinkOptions::default())
    }

    pub fn with(opts: SinkOptions) -> Sink {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("received.jsonl");
        let mut cmd = Command::new("python3");
        cmd.arg(SINK).arg("--out").arg(&out);
        if let Some(port) = opts.port {
            cmd.args(["--port", &port.to_string()]);
        }
        if let Some(stall) = opts.stall_data {
            cmd.args(["--stall-data", &stall.as_secs_f64().to_string()]);
            cmd.args(["--stall-count", &opts.stall_count.max(1).to_string()]);
        }
        cmd.args(["--fail-first", &opts.fail_first.to_string()]);
        cmd.args(["--reject-first", &opts.reject_first.to_string()]);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs tests/mail/smtp_sink.py (scripts/test.sh installs aiosmtpd)");
        let stdout = child.stdout.take().expect("sink stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let seen = events.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = port_tx.send(first);
            }
            for line in lines.map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let event = v["event"].as_str().unwrap_or("").to_owned();
                    let n = v["n"].as_u64().unwrap_or(0);
                    seen.lock().expect("events").push((event, n));
                }
            }
        });
        let first = port_rx.recv_timeout(TIMEOUT);
        let port = match first.ok().and_then(|l| l.trim().parse::<u16>().ok()) {
            Some(p) => p,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the SMTP sink did not print its port (is aiosmtpd installed?)");
            }
        };
        Sink {
            child,
            port,
            out,
            events,
            _dir: dir,
        }
    }

    /// `--smtp-url` for it: plain SMTP, STARTTLS if offered (it is not).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        let Ok(text) = std::fs::read_to_string(&self.out) else {
            return Vec::new();
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("a JSON line");
                Received {
                    mail_from: v["mail_from"].as_str().unwrap_or("").to_owned(),
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|r| r.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    data: v["data"].as_str().unwrap_or("").to_owned(),
                }
            })
            .collect()
    }

    /// How many times `event` (stalling, aborted, refused, rejected,
    /// received) happened.
    pub fn count(&self, event: &str) -> usize {
        self.events
            .lock()
            .expect("events")
            .iter()
            .filter(|(e, _)| e == event)
            .count()
    }

    /// Waits (at most `limit`) until `event` happened `n` times.
    pub async fn until(&self, event: &str, n: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.count(event) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the SMTP sink saw {event} {} times, not {n}, within {limit:?}",
                self.count(event)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (at most `limit`) until `n` messages were accepted; answers
    /// them.
    pub async fn until_received(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the SMTP sink received {} messages, not {n}, within {limit:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
