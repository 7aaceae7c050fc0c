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
use tokio::io::AsyncWriteExt;
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
/// Streams a client may have open at once, of each kind. A connection
/// carries one session (the server allows no more), which opens its
/// CONNECT stream and one stream of frames; HTTP/3 adds three
/// unidirectional ones (control, QPACK encoder and decoder). quinn keeps
/// an entry for every stream the peer may open from the start: at its
/// default of 100 of each kind, 6.4 KiB of each session's 85 (heap
/// profile of 3,000 idle sessions).
const MAX_STREAMS: u32 = 8;
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
    let mut transport = wtransport::config::QuicTransportConfig::default();
    let streams = wtransport::quinn::VarInt::from_u32(MAX_STREAMS);
    transport
        .max_concurrent_bidi_streams(streams)
        .max_concurrent_uni_streams(streams);
    builder
        .with_custom_transport(identity, transport)
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
        recv,
        lines: Lines::default(),
    };
    conn::serve(state, view, Some(session), transport).await;
}

struct Wt {
    connection: Connection,
    send: SendStream,
    recv: RecvStream,
    lines: Lines,
}

/// Frames that may be lost without harm, sent as datagrams where the
/// session has them: typing indicators and presence.
fn is_ephemeral(frame: &str) -> bool {
    frame.starts_with(r#"{"type":"typing""#) || frame.starts_with(r#"{"type":"presence""#)
}

/// The stream's bytes cut into newline-terminated frames. It holds no
/// buffer of its own while idle: quinn hands over the chunks it received,
/// and only the rest of a chunk after a frame, or a frame's first part
/// while the rest is on its way, is kept (a 4 KiB read buffer per session
/// before).
#[derive(Default)]
struct Lines {
    /// What the last chunk holds after the frames taken from it.
    rest: Bytes,
    /// The first part of a frame whose newline has not come yet.
    partial: Vec<u8>,
}

impl Lines {
    /// The next whole frame among the bytes held; `None` when more must
    /// be read first.
    fn next(&mut self) -> Option<Inbound> {
        while !self.rest.is_empty() {
            let Some(pos) = self.rest.iter().position(|b| *b == b'\n') else {
                self.partial.extend_from_slice(&self.rest);
                self.rest.clear();
                return (self.partial.len() > MAX_FRAME_BYTES).then_some(Inbound::TooBig);
            };
            let head = self.rest.split_to(pos + 1);
            let mut frame = std::mem::take(&mut self.partial);
            frame.extend_from_slice(&head[..pos]);
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
        None
    }

    /// Takes the next chunk read from the stream (once `next` has taken
    /// every frame from the one before).
    fn push(&mut self, chunk: Bytes) {
        debug_assert!(self.rest.is_empty());
        self.rest = chunk;
    }
}

/// Reads one newline-terminated frame from the stream. Cancel-safe: the
/// bytes of a chunk read stay in `lines`, and quinn's read takes nothing
/// from the stream until it completes.
async fn read_line(recv: &mut RecvStream, lines: &mut Lines) -> Option<Inbound> {
    loop {
        if let Some(frame) = lines.next() {
            return Some(frame);
        }
        // No bound of our own: a chunk is bytes quinn already holds, and
        // taking it whole copies nothing.
        let chunk = recv
            .quic_stream_mut()
            .read_chunk(usize::MAX, true)
            .await
            .ok()??;
        lines.push(chunk.bytes);
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
                // Both branches are cancel-safe (see `read_line`).
                frame = read_line(&mut self.recv, &mut self.lines) => return frame,
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

    fn frames(lines: &mut Lines) -> Vec<String> {
        std::iter::from_fn(|| lines.next())
            .map(|f| match f {
                Inbound::Text(t) => t,
                Inbound::Binary => "<binary>".into(),
                Inbound::TooBig => "<too big>".into(),
            })
            .collect()
    }

    #[test]
    fn frames_come_whole_across_chunks_and_nothing_is_held_between_them() {
        let mut lines = Lines::default();
        lines.push(Bytes::from_static(b"{\"type\":\"ping\"}\n\n{\"type\":\"se"));
        assert_eq!(frames(&mut lines), [r#"{"type":"ping"}"#]);
        lines.push(Bytes::from_static(b"nd\"}"));
        assert!(
            frames(&mut lines).is_empty(),
            "the frame's end has not come"
        );
        lines.push(Bytes::from_static(b"\n \n\xff\xfe\n{}\n"));
        assert_eq!(frames(&mut lines), [r#"{"type":"send"}"#, "<binary>", "{}"]);
        // Idle again: no bytes and no buffer kept.
        assert!(lines.rest.is_empty());
        assert_eq!(lines.partial.capacity(), 0);
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_before_its_end_arrives() {
        let mut lines = Lines::default();
        lines.push(Bytes::from(vec![b'a'; MAX_FRAME_BYTES]));
        assert!(
            frames(&mut lines).is_empty(),
            "at the limit, it may still end"
        );
        lines.push(Bytes::from_static(b"a"));
        assert_eq!(frames(&mut lines), ["<too big>"]);

        let mut lines = Lines::default();
        let mut whole = vec![b'a'; MAX_FRAME_BYTES + 1];
        whole.push(b'\n');
        lines.push(Bytes::from(whole));
        assert_eq!(frames(&mut lines), ["<too big>"]);
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
