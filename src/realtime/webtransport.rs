//! WebTransport transport: UDP on the same port number as HTTP, path `/wt`,
//! authenticated by a ticket (`?ticket=`), since the browser sends no
//! cookies on the CONNECT request.
//!
//! The client's first bidirectional stream carries newline-delimited JSON
//! frames of the same protocol as `/ws`. Typing indicators and presence,
//! which may be lost without harm, travel as datagrams instead where the
//! session supports them; clients may send typing as datagrams too.
//!
//! Every node serves the cluster's one certificate, kept in the database
//! and rotated by the primary ([`super::cert`]); this module watches it and
//! reloads the endpoint's configuration when it changes, without dropping
//! established sessions. Certificate files from the configuration take
//! precedence.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::task::JoinHandle;
use wtransport::endpoint::IncomingSession;
use wtransport::endpoint::endpoint_side::Server;
use wtransport::{Connection, Endpoint, Identity, RecvStream, SendStream, ServerConfig, VarInt};

use super::cert::{self, Loaded};
use super::conn::{self, CloseReason, Inbound, Transport};
use super::hub::{Frame, SHUTTING_DOWN};
use super::wt_info::WtInfo;
use crate::auth::accounts;
use crate::http::same_origin;
use crate::state::{AppState, DRAIN_TIMEOUT};
use kith_core::protocol::MAX_FRAME_BYTES;

/// How long a new session may take to open its first stream.
const FIRST_STREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// At shutdown, how long closed sessions may take to be acknowledged
/// (their close frames sent, and resent if lost).
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn hash_of(identity: &Identity) -> String {
    identity
        .certificate_chain()
        .as_slice()
        .first()
        .map(cert::encode_hash)
        .unwrap_or_default()
}

fn server_config(bind: BindTo, identity: Identity) -> ServerConfig {
    let builder = match bind {
        BindTo::Socket(udp) => ServerConfig::builder().with_bind_socket(udp),
        // Only for a reload, which keeps the bound socket.
        BindTo::Kept(addr) => ServerConfig::builder().with_bind_address(addr),
    };
    builder
        .with_identity(identity)
        .keep_alive_interval(Some(Duration::from_secs(15)))
        .build()
}

/// The endpoint's socket: bound by the caller (`app::listen`, which finds
/// a port free on TCP and UDP), or the one already in use on a reload.
enum BindTo {
    Socket(std::net::UdpSocket),
    Kept(SocketAddr),
}

/// Starts the endpoint on `udp` and serves sessions until `stop` turns true. Then it
/// accepts no more sessions, waits (up to [`DRAIN_TIMEOUT`]) for the hub's
/// connections to close (the hub kicks them at shutdown), closes whatever
/// is left (sessions still opening) with the same code, and ends once the
/// closes have gone out (up to [`IDLE_TIMEOUT`]).
pub async fn start(
    state: AppState,
    udp: std::net::UdpSocket,
    files: Option<CertFiles>,
) -> anyhow::Result<JoinHandle<()>> {
    let addr = udp.local_addr()?;
    let info = state
        .webtransport
        .clone()
        .ok_or_else(|| anyhow::anyhow!("WebTransport is not configured"))?;
    let (identity, served) = match &files {
        Some(f) => {
            let identity = Identity::load_pemfiles(&f.cert, &f.key).await?;
            info.publish(vec![hash_of(&identity)]);
            (identity, None)
        }
        None => match cert::initial(&state).await {
            Some(loaded) => {
                info.publish(loaded.pair.hashes()?);
                (loaded.pair.current.identity()?, Some(loaded.raw))
            }
            None => (cert::temporary()?, None),
        },
    };
    let endpoint = Endpoint::server(server_config(BindTo::Socket(udp), identity))?;
    tracing::info!(%addr, "WebTransport listening");
    let tasks = state.tasks.clone();
    Ok(tasks.spawn(async move {
        let accept = async {
            loop {
                let incoming = endpoint.accept().await;
                state.tasks.spawn(session(state.clone(), incoming));
            }
        };
        let serve = async {
            if files.is_some() {
                accept.await;
            } else {
                // One future for both, so stopping it stops both.
                tokio::join!(accept, watch(&state, &endpoint, addr, &info, served));
            }
        };
        tokio::select! {
            () = serve => {}
            _ = state.tasks.stopping() => {}
        }
        // No longer accepting: new sessions wait unanswered until the
        // endpoint closes below.
        if tokio::time::timeout(DRAIN_TIMEOUT, state.hub.closed())
            .await
            .is_err()
        {
            tracing::warn!("realtime connections did not close in time");
        }
        endpoint.close(
            VarInt::from_u32(super::ws::CLOSE_RESTART.into()),
            SHUTTING_DOWN.as_bytes(),
        );
        if tokio::time::timeout(IDLE_TIMEOUT, endpoint.wait_idle())
            .await
            .is_err()
        {
            tracing::debug!("WebTransport sessions did not finish closing in time");
        }
        tracing::debug!("WebTransport stopped");
    }))
}

/// Follows the stored certificate: every [`cert::WATCH_EVERY`], reads it
/// (the primary rotates it first when due) and, when it changed, reloads
/// the endpoint's configuration. `served` is the stored value being served.
async fn watch(
    state: &AppState,
    endpoint: &Endpoint<Server>,
    addr: SocketAddr,
    info: &WtInfo,
    mut served: Option<Vec<u8>>,
) {
    let mut tick = tokio::time::interval(cert::WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let loaded = match cert::refresh(state).await {
            Ok(Some(l)) => l,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "reading the WebTransport certificate");
                continue;
            }
        };
        if served.as_deref() == Some(loaded.raw.as_slice()) {
            continue;
        }
        match reload(endpoint, addr, &loaded) {
            Ok(hashes) => {
                info.publish(hashes);
                served = Some(loaded.raw);
                tracing::info!("WebTransport certificate reloaded");
            }
            Err(e) => tracing::warn!(error = %e, "reloading the WebTransport certificate"),
        }
    }
}

/// Serves `loaded`'s current certificate to new handshakes; established
/// sessions keep theirs (`rebind: false` keeps the socket). Returns the
/// hashes to publish.
fn reload(
    endpoint: &Endpoint<Server>,
    addr: SocketAddr,
    loaded: &Loaded,
) -> anyhow::Result<Vec<String>> {
    let hashes = loaded.pair.hashes()?;
    let identity = loaded.pair.current.identity()?;
    endpoint.reload_config(server_config(BindTo::Kept(addr), identity), false)?;
    Ok(hashes)
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
    let (user, session) = match ticket_of(request.path()).map(|t| state.tickets.check(t)) {
        Some(Ok(checked)) => checked,
        _ => {
            request.forbidden().await;
            return;
        }
    };
    let view = match accounts::by_id(&state.reader, user) {
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
    conn::serve(state, view, Some(session), transport).await;
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

/// A frame as the stream's bytes, kept alive by its shared text.
struct Line(Frame);

impl AsRef<[u8]> for Line {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn newline() -> Bytes {
    Bytes::from_static(b"\n")
}

impl Wt {
    /// Sends `frame` as a datagram if it may be lost without harm and
    /// fits; whether it went that way.
    fn as_datagram(&self, frame: &str) -> bool {
        let fits = self
            .connection
            .max_datagram_size()
            .is_some_and(|max| frame.len() <= max);
        fits && is_ephemeral(frame) && self.connection.send_datagram(frame.as_bytes()).is_ok()
    }

    /// One write of `chunks` to the stream: one lock of the connection
    /// and one wake of its driver, where a write per frame and per newline
    /// took one each.
    async fn write(&mut self, chunks: &mut [Bytes]) -> Result<(), ()> {
        if chunks.is_empty() {
            return Ok(());
        }
        self.send
            .quic_stream_mut()
            .write_all_chunks(chunks)
            .await
            .map_err(|_| ())
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
        if self.as_datagram(frame) {
            return Ok(());
        }
        let mut line = [Bytes::copy_from_slice(frame.as_bytes()), newline()];
        self.write(&mut line).await
    }

    /// The frames that are not datagrams go out in one write to the
    /// stream, each shared with its other recipients rather than copied.
    async fn send_all(&mut self, frames: &[Frame]) -> Result<(), ()> {
        let mut lines = Vec::with_capacity(2 * frames.len());
        for f in frames {
            if !self.as_datagram(f) {
                lines.push(Bytes::from_owner(Line(f.clone())));
                lines.push(newline());
            }
        }
        self.write(&mut lines).await
    }

    async fn close(&mut self, reason: CloseReason) {
        let (code, text): (u32, &str) = match reason {
            CloseReason::Client => (0, "bye"),
            CloseReason::TooBig => (1009, "message too big"),
            CloseReason::Flooding => (1008, "too many frames over the rate limit"),
            CloseReason::Kicked(SHUTTING_DOWN) => (super::ws::CLOSE_RESTART.into(), SHUTTING_DOWN),
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
    fn finds_the_ticket() {
        assert_eq!(ticket_of("/wt?ticket=abc"), Some("abc"));
        assert_eq!(ticket_of("/wt?x=1&ticket=abc"), Some("abc"));
        assert_eq!(ticket_of("/wt?ticket="), None);
        assert_eq!(ticket_of("/wt"), None);
        assert_eq!(ticket_of("/other?ticket=abc"), None);
    }
}
