//! The one WebTransport client of the tests (wtransport's), shared by the
//! test binaries: what a node publishes in `/api/realtime/config`, a
//! session opened with a ticket, and JSON lines on its first stream.

// Each test binary includes this file and uses only part of it.
#![allow(dead_code)]

use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use wtransport::tls::Sha256Digest;

use crate::wait::within_for;

/// What `/api/realtime/config` publishes: the WebTransport URL and the
/// certificate hashes (base64), in the order served.
pub fn published(config: &Value) -> (String, Vec<String>) {
    let wt = &config["webtransport"];
    let url = wt["url"].as_str().expect("WebTransport url").to_owned();
    let hashes = wt["cert_hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(|h| {
            assert_eq!(h["algorithm"], "sha-256");
            h["value"].as_str().expect("hash value").to_owned()
        })
        .collect();
    (url, hashes)
}

/// A published hash, as the client trusts it.
pub fn digest(b64: &str) -> Sha256Digest {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let arr: [u8; 32] = bytes.try_into().expect("32 bytes");
    Sha256Digest::new(arr)
}

/// Opens a session at `url` with `ticket`, trusting only `hashes`, with
/// an optional `Origin`.
pub async fn connect(
    url: &str,
    ticket: &str,
    hashes: &[String],
    origin: Option<&str>,
) -> Result<wtransport::Connection, wtransport::error::ConnectingError> {
    let cfg = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes(hashes.iter().map(|h| digest(h)))
        .build();
    let endpoint = wtransport::Endpoint::client(cfg).expect("client endpoint");
    let mut opts = wtransport::endpoint::ConnectOptions::builder(format!("{url}?ticket={ticket}"));
    if let Some(o) = origin {
        opts = opts.add_header("origin", o);
    }
    within_for("the WebTransport handshake", endpoint.connect(opts.build())).await
}

/// A session and its first bidirectional stream, greeted.
pub struct Wt {
    pub conn: wtransport::Connection,
    send: wtransport::SendStream,
    recv: BufReader<wtransport::RecvStream>,
}

impl Wt {
    /// Opens the first stream on `conn` and reads the greeting for `user`
    /// (the server speaks once the stream carries data, so a ping goes
    /// first).
    pub async fn over(conn: wtransport::Connection, user: &str) -> Wt {
        let (send, recv) = within_for("a WebTransport stream", async {
            conn.open_bi()
                .await
                .expect("open bi")
                .await
                .expect("bi stream")
        })
        .await;
        let mut wt = Wt {
            conn,
            send,
            recv: BufReader::new(recv),
        };
        wt.send(json!({"type": "ping"})).await;
        let hello = wt.next_of("hello").await;
        assert_eq!(hello["user"], user, "{hello}");
        wt.next_of("pong").await;
        wt
    }

    pub async fn send(&mut self, v: Value) {
        let line = format!("{v}\n");
        within_for("a WebTransport write", self.send.write_all(line.as_bytes()))
            .await
            .expect("wt write");
    }

    /// The next frame, as JSON.
    pub async fn next(&mut self) -> Value {
        let mut line = String::new();
        let n = within_for("a WebTransport frame", self.recv.read_line(&mut line))
            .await
            .expect("wt read");
        assert!(n > 0, "WebTransport stream ended");
        serde_json::from_str(line.trim_end()).expect("JSON frame")
    }

    /// The next frame of `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let v = self.next().await;
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// A ping answered: the session and its stream work.
    pub async fn ping(&mut self) {
        self.send(json!({"type": "ping"})).await;
        self.next_of("pong").await;
    }
}
