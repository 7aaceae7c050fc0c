//! One Web Push request (RFC 8030 section 5): the encrypted payload POSTed
//! to the subscription's endpoint with its TTL, urgency and topic, signed
//! with VAPID; the push service's answer read as what to do next.

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use crate::notify::NotificationView;
use crate::outbound;
use kith_core::ids::{Id, now_ms};
use kith_core::notify_text;
use kith_core::webpush::{Keys, Vapid, encrypt};

/// A push request's whole exchange, connection included: push services
/// answer in well under a second; a worker is not held longer.
const DEADLINE: Duration = Duration::from_secs(10);

/// What the service worker receives (decrypted): what to show and where a
/// click goes.
#[derive(Debug, Serialize)]
pub struct Message {
    pub id: Id,
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The client's page for it.
    pub url: String,
    /// One notification on screen per conversation (a newer message
    /// replaces it), one per notification otherwise.
    pub tag: String,
    #[serde(skip)]
    ttl: u32,
    #[serde(skip)]
    urgency: &'static str,
    /// RFC 8030 `Topic`: a newer push with it replaces one the service
    /// still holds (a phone that was off gets the last message of a
    /// conversation only).
    #[serde(skip)]
    topic: Option<String>,
}

impl Message {
    pub fn of(n: &NotificationView, subject: Option<Id>) -> Message {
        let kind = serde_json::to_value(n.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let actor = n
            .actor
            .as_ref()
            .map_or("Someone", |a| a.display_name.as_str());
        let excerpt = n
            .comment
            .as_ref()
            .or(n.post.as_ref())
            .map(|e| e.excerpt.as_str());
        Message::new(n.id, kind, actor, excerpt, subject)
    }

    /// A message to a member who was connected but has not read it: no
    /// notification is stored for it, so `id` is the delivery's own.
    pub fn chat(id: Id, conversation: Id, actor: &str, body: Option<&str>) -> Message {
        let excerpt = body.map(|b| kith_core::text::excerpt(b, 80));
        Message::new(
            id,
            "message".into(),
            actor,
            excerpt.as_deref(),
            Some(conversation),
        )
    }

    fn new(
        id: Id,
        kind: String,
        actor: &str,
        excerpt: Option<&str>,
        subject: Option<Id>,
    ) -> Message {
        let (title, body) = notify_text::push_text(&kind, actor, excerpt);
        let subject_s = subject.map(|s| s.to_string());
        let chat = matches!(kind.as_str(), "message" | "chat_mention");
        let conversation = subject_s.as_deref().filter(|_| chat);
        Message {
            id,
            url: notify_text::page(&kind, subject_s.as_deref()),
            tag: conversation.map_or_else(|| format!("n-{id}"), |c| format!("chat-{c}")),
            title,
            body,
            // A chat message an hour late is still worth a ring; a like a
            // day late is not worth one.
            ttl: match kind.as_str() {
                "message" | "chat_mention" | "mention" => 24 * 3600,
                "like" => 3600,
                _ => 12 * 3600,
            },
            urgency: match kind.as_str() {
                "message" | "chat_mention" | "mention" => "high",
                "like" => "low",
                _ => "normal",
            },
            // A repeat of the same notification (a delivery retried after
            // a node died mid-request) replaces the one still held by the
            // service, and its tag replaces the one on screen.
            topic: Some(conversation.map_or_else(|| format!("n{id}"), |c| format!("c{c}"))),
            kind,
        }
    }
}

/// What came of a push.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// 404 or 410: the subscription is no more.
    Gone,
    /// Worth trying later (429, 5xx, no connection, a timeout).
    Retry(String),
    /// Will not succeed (refused address, 4xx).
    Refused(String),
}

/// Sends `msg` to `endpoint` for the browser holding `keys`.
pub async fn deliver(
    vapid: &Vapid,
    contact: &str,
    endpoint: &str,
    keys: &Keys,
    msg: &Message,
    allow_private: bool,
) -> Outcome {
    let payload = match serde_json::to_vec(msg) {
        Ok(p) => p,
        Err(e) => return Outcome::Refused(format!("encoding: {e}")),
    };
    let body = match encrypt(keys, &payload) {
        Ok(b) => b,
        Err(e) => return Outcome::Refused(format!("encrypting: {e}")),
    };
    // Valid for 12 h: RFC 8292 allows up to 24 h, and a push service may
    // hold a message until its TTL before delivering it.
    let exp = now_ms() / 1000 + 12 * 3600;
    let Some(auth) = vapid.authorization(endpoint, contact, exp) else {
        return Outcome::Refused("the endpoint is not a URL".into());
    };
    match tokio::time::timeout(DEADLINE, post(endpoint, &auth, msg, &body, allow_private)).await {
        Err(_) => Outcome::Retry("the push service took too long".into()),
        Ok(Err(outbound::FetchError::Refused(why))) => Outcome::Refused(why),
        Ok(Err(outbound::FetchError::Failed(why))) => Outcome::Retry(why),
        Ok(Ok(status)) => match status {
            200..=299 => Outcome::Delivered,
            404 | 410 => Outcome::Gone,
            429 | 500..=599 => Outcome::Retry(format!("push service answered {status}")),
            _ => Outcome::Refused(format!("push service answered {status}")),
        },
    }
}

/// POSTs the push over HTTP/1.1 (one request, `Connection: close`) to the
/// checked address; answers the status.
async fn post(
    endpoint: &str,
    auth: &str,
    msg: &Message,
    body: &[u8],
    allow_private: bool,
) -> Result<u16, outbound::FetchError> {
    let url = Url::parse(endpoint).map_err(|e| outbound::refused(format!("not a URL: {e}")))?;
    let addr = outbound::vet(&url, allow_private).await?;
    let mut conn = outbound::connect(&url, addr).await?;
    let (path, host) = outbound::target(&url);
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kith-push/1\r\n\
         Content-Type: application/octet-stream\r\nContent-Encoding: aes128gcm\r\n\
         Content-Length: {}\r\nTTL: {}\r\nUrgency: {}\r\nAuthorization: {auth}\r\n",
        body.len(),
        msg.ttl,
        msg.urgency,
    );
    if let Some(t) = &msg.topic {
        head.push_str(&format!("Topic: {t}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    conn.write_all(head.as_bytes())
        .await
        .map_err(outbound::failed)?;
    conn.write_all(body).await.map_err(outbound::failed)?;
    conn.flush().await.map_err(outbound::failed)?;
    // The status line is all kith needs; it comes first.
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
        let n = conn.read(&mut chunk).await.map_err(outbound::failed)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| outbound::failed("no status line from the push service"))
}
