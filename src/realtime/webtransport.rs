//! WebTransport transport: UDP on the same port number as HTTP, path `/wt`,
//! authenticated by a ticket (`?ticket=`), since the browser sends no
//! cookies on the CONNECT request.
//!
//! The client's first bidirectional stream carries newline-delimited JSON
//! frames of the same protocol as `/ws`. Typing indicators and presence,
//! which may be lost without harm, travel as datagrams instead where the
//! session supports them; clients may send typing as datagrams too. The certificate is a self-signed
//! ECDSA P-256 one valid for under 14 days (what browsers accept with
//! `serverCertificateHashes`), replaced before it expires; its SHA-256 is
//! published by `/api/realtime/config`. Certificate files from the
//! configuration take precedence.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::task::JoinHandle;
use wtransport::endpoint::IncomingSession;
use wtransport::tls::self_signed::time::{Duration as TDuration, OffsetDateTime};
use wtransport::{Connection, Endpoint, Identity, RecvStream, SendStream, ServerConfig, VarInt};

use super::conn::{self, CloseReason, Inbound, Transport};
use super::protocol::MAX_FRAME_BYTES;
use crate::app::AppState;
use crate::auth::accounts;
use crate::http::same_origin;

/// A self-signed certificate lives this long (browsers allow 14 days).
const CERT_LIFETIME: TDuration = TDuration::days(13);
/// It is replaced when this much of its life is left.
const RENEW_BEFORE: TDuration = TDuration::days(3);
const RENEW_CHECK_EVERY: Duration = Duration::from_secs(3600);
/// How long a new session may take to open its first stream.
const FIRST_STREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// What `/api/realtime/config` publishes about WebTransport.
#[derive(Debug, Default)]
pub struct WtInfo {
    pub port: u16,
    /// Base64 SHA-256 of the certificates being served, newest first.
    pub cert_hashes: RwLock<Vec<String>>,
}

pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn self_signed() -> anyhow::Result<(Identity, OffsetDateTime)> {
    // Back-dated an hour for clock skew; 13 days in all.
    let not_before = OffsetDateTime::now_utc() - TDuration::hours(1);
    let not_after = not_before + CERT_LIFETIME;
    let identity = Identity::self_signed_builder()
        .subject_alt_names(["localhost", "127.0.0.1", "::1"])
        .validity_period(not_before, not_after)
        .build()?;
    Ok((identity, not_after))
}

fn hash_of(identity: &Identity) -> String {
    identity
        .certificate_chain()
        .as_slice()
        .first()
        .map(|c| STANDARD.encode(AsRef::<[u8; 32]>::as_ref(&c.hash())))
        .unwrap_or_default()
}

fn server_config(addr: SocketAddr, identity: Identity) -> ServerConfig {
    ServerConfig::builder()
        .with_bind_address(addr)
        .with_identity(identity)
        .keep_alive_interval(Some(Duration::from_secs(15)))
        .build()
}

/// Binds the endpoint and serves sessions until the task is aborted.
pub async fn start(
    state: AppState,
    addr: SocketAddr,
    files: Option<CertFiles>,
) -> anyhow::Result<JoinHandle<()>> {
    let (identity, expires) = match &files {
        Some(f) => (Identity::load_pemfiles(&f.cert, &f.key).await?, None),
        None => {
            let (id, exp) = self_signed()?;
            (id, Some(exp))
        }
    };
    let info = state
        .webtransport
        .clone()
        .ok_or_else(|| anyhow::anyhow!("WebTransport is not configured"))?;
    if let Ok(mut h) = info.cert_hashes.write() {
        *h = vec![hash_of(&identity)];
    }
    let endpoint = Endpoint::server(server_config(addr, identity))?;
    tracing::info!(%addr, "WebTransport listening");
    Ok(tokio::spawn(async move {
        let mut renew = tokio::time::interval(RENEW_CHECK_EVERY);
        let mut expires = expires;
        loop {
            tokio::select! {
                incoming = endpoint.accept() => {
                    tokio::spawn(session(state.clone(), incoming));
                }
                _ = renew.tick() => {
                    if let Some(exp) = expires
                        && needs_renewal(OffsetDateTime::now_utc(), exp)
                    {
                        match self_signed() {
                            Ok((id, new_exp)) => {
                                let hash = hash_of(&id);
                                match endpoint.reload_config(server_config(addr, id), false) {
                                    Ok(()) => {
                                        if let Ok(mut h) = info.cert_hashes.write() {
                                            h.insert(0, hash);
                                            h.truncate(2);
                                        }
                                        expires = Some(new_exp);
                                        tracing::info!("WebTransport certificate renewed");
                                    }
                                    Err(e) => tracing::warn!(error = %e, "renewing the certificate"),
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "making a certificate"),
                        }
                    }
                }
            }
        }
    }))
}

/// Whether a certificate expiring at `expires` is due for replacement.
fn needs_renewal(now: OffsetDateTime, expires: OffsetDateTime) -> bool {
    now + RENEW_BEFORE > expires
}

/// The ticket in a request path such as `/wt?ticket=...`.
fn ticket_of(path: &str) -> Option<&str> {
    let (p, query) = path.split_once('?')?;
    if p != "/wt" {
        return None;
    }
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("ticket="))
        .filter(|t| !t.is_empty())
}

async fn session(state: AppState, incoming: IncomingSession) {
    let request = match incoming.await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "WebTransport handshake failed");
            return;
        }
    };
    let path_ok = request.path() == "/wt" || request.path().starts_with("/wt?");
    if !path_ok {
        request.not_found().await;
        return;
    }
    if let Some(origin) = request.origin()
        && !same_origin(origin, Some(request.authority()))
    {
        tracing::debug!(origin, "WebTransport from another origin refused");
        request.forbidden().await;
        return;
    }
    let user = match ticket_of(request.path()).map(|t| state.tickets.check(t)) {
        Some(Ok(user)) => user,
        _ => {
            request.forbidden().await;
            return;
        }
    };
    let view = match accounts::by_id(&state.read, user).await {
        Ok(Some(v)) => v,
        _ => {
            request.forbidden().await;
            return;
        }
    };
    let connection = match request.accept().await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "WebTransport accept failed");
            return;
        }
    };
    let stream = tokio::time::timeout(FIRST_STREAM_TIMEOUT, connection.accept_bi()).await;
    let Ok(Ok((send, recv))) = stream else {
        connection.close(VarInt::from_u32(4001), b"no stream opened");
        return;
    };
    let transport = Wt {
        connection,
        send,
        recv: BufReader::with_capacity(4096, recv),
        line: Vec::new(),
    };
    conn::serve(state, view, transport).await;
}

struct Wt {
    connection: Connection,
    send: SendStream,
    recv: BufReader<RecvStream>,
    line: Vec<u8>,
}

/// Frames that may be lost without harm, sent as datagrams where the
/// session has them: typing indicators and presence.
fn is_ephemeral(frame: &str) -> bool {
    frame.starts_with(r#"{"type":"typing""#) || frame.starts_with(r#"{"type":"presence""#)
}

/// Reads one newline-terminated frame from the stream.
async fn read_line(recv: &mut BufReader<RecvStream>, line: &mut Vec<u8>) -> Option<Inbound> {
    loop {
        let chunk = recv.fill_buf().await.ok()?;
        if chunk.is_empty() {
            return None;
        }
        if let Some(pos) = chunk.iter().position(|b| *b == b'\n') {
            line.extend_from_slice(&chunk[..pos]);
            recv.consume(pos + 1);
            let frame = std::mem::take(line);
            if frame.len() > MAX_FRAME_BYTES {
                return Some(Inbound::TooBig);
            }
            if frame.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(match String::from_utf8(frame) {
                Ok(s) => Inbound::Text(s),
                Err(_) => Inbound::Binary,
            });
        }
        let n = chunk.len();
        line.extend_from_slice(chunk);
        recv.consume(n);
        if line.len() > MAX_FRAME_BYTES {
            return Some(Inbound::TooBig);
        }
    }
}

impl Transport for Wt {
    async fn recv(&mut self) -> Option<Inbound> {
        loop {
            tokio::select! {
                // Both branches are cancel-safe: a partial line stays in
                // `self.line`, read bytes stay in the BufReader.
                frame = read_line(&mut self.recv, &mut self.line) => return frame,
                datagram = self.connection.receive_datagram() => {
                    let datagram = datagram.ok()?;
                    // Only typing indicators may come this way; anything
                    // else must use the stream, which is reliable.
                    if let Ok(text) = std::str::from_utf8(&datagram)
                        && serde_json::from_str::<serde_json::Value>(text)
                            .is_ok_and(|v| v["type"] == "typing")
                    {
                        return Some(Inbound::Text(text.to_owned()));
                    }
                }
            }
        }
    }

    async fn send(&mut self, frame: &str) -> Result<(), ()> {
        let fits = self
            .connection
            .max_datagram_size()
            .is_some_and(|max| frame.len() <= max);
        if fits && is_ephemeral(frame) && self.connection.send_datagram(frame.as_bytes()).is_ok() {
            return Ok(());
        }
        self.send
            .write_all(frame.as_bytes())
            .await
            .map_err(|_| ())?;
        self.send.write_all(b"\n").await.map_err(|_| ())
    }

    async fn close(&mut self, reason: CloseReason) {
        let (code, text): (u32, &str) = match reason {
            CloseReason::Client => (0, "bye"),
            CloseReason::TooBig => (1009, "message too big"),
            CloseReason::Flooding => (1008, "too many frames over the rate limit"),
            CloseReason::Kicked(why) => (super::ws::CLOSE_KICKED.into(), why),
        };
        let _ = self.send.flush().await;
        self.connection
            .close(VarInt::from_u32(code), text.as_bytes());
    }
}

/// Shared by `/api/realtime/config`.
pub type SharedWtInfo = Arc<WtInfo>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_short_lived_and_renewed_in_time() {
        let (identity, expires) = self_signed().expect("certificate");
        let now = OffsetDateTime::now_utc();
        // Browsers refuse pinned certificates valid for more than 14 days.
        assert!(expires - now <= TDuration::days(14));
        assert!(!needs_renewal(now, expires));
        assert!(!needs_renewal(
            expires - RENEW_BEFORE - TDuration::minutes(1),
            expires
        ));
        assert!(needs_renewal(
            expires - RENEW_BEFORE + TDuration::minutes(1),
            expires
        ));
        assert_eq!(hash_of(&identity).len(), 44, "base64 of 32 bytes");
    }

    #[test]
    fn finds_the_ticket() {
        assert_eq!(ticket_of("/wt?ticket=abc"), Some("abc"));
        assert_eq!(ticket_of("/wt?x=1&ticket=abc"), Some("abc"));
        assert_eq!(ticket_of("/wt?ticket="), None);
        assert_eq!(ticket_of("/wt"), None);
        assert_eq!(ticket_of("/other?ticket=abc"), None);
    }
}
