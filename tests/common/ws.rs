//! The one WebSocket client of the tests (tokio-tungstenite), shared by the
//! test binaries: connect with a session cookie, send JSON frames, read
//! them with a bound, and see how the server closed.

// Each test binary includes this file and uses only part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::wait::{TIMEOUT, within_for};

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A server the tests connect to.
pub trait Server {
    fn http_addr(&self) -> SocketAddr;
}

/// A signed-in user: the `cookie` header value of one of their sessions,
/// and the name the server greets them by.
pub trait Member {
    fn cookie(&self) -> &str;
    fn name(&self) -> &str;
}

/// A live connection to `/ws`.
pub struct Ws(pub WsStream);

impl Ws {
    /// The handshake alone, with an optional `cookie` header value and
    /// `Origin`: the connection and the HTTP status, or why it failed.
    pub async fn connect(
        addr: SocketAddr,
        cookie: Option<&str>,
        origin: Option<&str>,
    ) -> Result<(Ws, u16), tungstenite::Error> {
        let mut req = format!("ws://{addr}/ws")
            .into_client_request()
            .expect("a WebSocket request");
        if let Some(c) = cookie {
            req.headers_mut()
                .insert("cookie", HeaderValue::from_str(c).expect("cookie"));
        }
        if let Some(o) = origin {
            req.headers_mut()
                .insert("origin", HeaderValue::from_str(o).expect("origin"));
        }
        let (ws, res) = within_for(
            "the WebSocket handshake",
            tokio_tungstenite::connect_async(req),
        )
        .await?;
        Ok((Ws(ws), res.status().as_u16()))
    }

    /// Connects `who` from the server's own origin and waits for the
    /// greeting, after which they count as online.
    pub async fn open(server: &impl Server, who: &impl Member) -> Ws {
        let addr = server.http_addr();
        let origin = format!("http://{addr}");
        let (mut ws, status) = Ws::connect(addr, Some(who.cookie()), Some(&origin))
            .await
            .expect("WebSocket handshake");
        assert_eq!(status, 101);
        let hello = ws.next_of("hello").await;
        assert_eq!(hello["user"], who.name(), "{hello}");
        assert_eq!(hello["version"], 1, "{hello}");
        ws
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(v.to_string()).await;
    }

    pub async fn send_text(&mut self, t: String) {
        within_for("a WebSocket send", self.0.send(Message::text(t)))
            .await
            .expect("ws send");
    }

    /// The next text frame within `limit`, as JSON; `None` when none came.
    /// A close fails the test.
    pub async fn next_within(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let m = tokio::time::timeout_at(deadline, self.0.next())
                .await
                .ok()?;
            match m.expect("socket ended").expect("socket error") {
                Message::Text(t) => {
                    return Some(serde_json::from_str(t.as_str()).expect("JSON frame"));
                }
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// A send that does not fail the test: whether it went out.
    pub async fn try_send(&mut self, v: Value) -> bool {
        self.0.send(Message::text(v.to_string())).await.is_ok()
    }

    /// The next text frame within `limit` (`Ok(None)`: none came), or
    /// `Err` once the socket has ended, for clients that expect it to.
    pub async fn next_or_end(&mut self, limit: Duration) -> Result<Option<Value>, ()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let Ok(m) = tokio::time::timeout_at(deadline, self.0.next()).await else {
                return Ok(None);
            };
            match m {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).ok()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Err(()),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next text frame, as JSON, within [`TIMEOUT`].
    pub async fn next(&mut self) -> Value {
        self.next_within(TIMEOUT).await.expect("no frame in time")
    }

    /// The next frame of `kind`, skipping others (presence, typing, …).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        self.next_matching(kind, TIMEOUT, |_| true)
            .await
            .unwrap_or_else(|| panic!("no {kind} frame in time"))
    }

    /// The next frame of `kind` for which `pred` holds, within `limit`.
    pub async fn next_matching(
        &mut self,
        kind: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = self.next_within(left).await?;
            if v["type"] == kind && pred(&v) {
                return Some(v);
            }
        }
    }

    /// Skips frames until one satisfies `pred`, within [`TIMEOUT`]; an
    /// error frame fails the test.
    pub async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let f = self.next_within(left).await.expect("no such frame in time");
            assert_ne!(f["type"], "error", "error frame: {f}");
            if pred(&f) {
                return f;
            }
        }
    }

    /// Reads until the server closes; returns the close code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match within_for("the socket's close", self.0.next()).await {
                Some(Ok(Message::Close(Some(c)))) => return (c.code.into(), c.reason.to_string()),
                Some(Ok(Message::Close(None))) | None => return (0, String::new()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return (0, e.to_string()),
            }
        }
    }
}
