//! WebSocket transport: `GET /ws`, authenticated by the session cookie.
//!
//! The upgrade is done here rather than by axum's `WebSocketUpgrade`, to
//! keep the raw connection: after a frame over the limit, the rest of it
//! is still arriving, and closing a TCP socket with unread bytes makes the
//! kernel send a reset, which can destroy the 1009 close frame before the
//! client reads it (it saw 1006). So the close frame is sent, then
//! whatever arrives is read and dropped until the client closes or
//! [`CLOSE_HANDSHAKE`] passes.

use std::time::Duration;

use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::io::IoSlice;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::conn::{self, CloseReason, Inbound, Transport};
use super::hub::{Frame, SHUTTING_DOWN};
use crate::auth::User;
use crate::error::AppError;
use crate::http::{Bearer, same_origin};
use crate::state::AppState;
use kith_core::protocol::MAX_FRAME_BYTES;

/// Small buffers: an idle connection should cost little memory. The read
/// buffer is kept for the connection's life; 512 bytes hold a client's
/// frames (typing, receipts, a chat message of a few lines) in one read,
/// and a longer frame reserves its own length when its header arrives.
/// Our own frames do not pass through tungstenite's write buffer
/// ([`Ws::write_text`]).
const READ_BUFFER: usize = 512;
const WRITE_BUFFER: usize = 1024;
/// A client that does not read its socket holds at most this much unsent.
const MAX_WRITE_BUFFER: usize = 256 * 1024;

/// The WebSocket close code for a kicked connection (slow consumer,
/// signed out): the reason says which.
pub const CLOSE_KICKED: u16 = 4000;
/// The close code when the server shuts down ("service restart"): the
/// client reconnects at once, to another node if there is one. WebTransport
/// sessions are closed with the same code.
pub const CLOSE_RESTART: u16 = 1012;
/// How long a close frame we sent waits for the client's own.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

pub async fn upgrade(
    State(state): State<AppState>,
    bearer: Option<Extension<Bearer>>,
    user: User,
    mut req: Request,
) -> Result<Response, AppError> {
    // Browsers always send Origin on a WebSocket handshake; a page of
    // another site must not ride on this user's cookie. A bearer token is
    // no cookie: an app's handshake may come from anywhere.
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let (None, Some(origin)) = (bearer, headers.get(header::ORIGIN)) {
        let ok = origin.to_str().is_ok_and(|o| same_origin(o, host));
        if !ok {
            return Err(AppError::Forbidden("cross-origin WebSocket refused".into()));
        }
    }
    let accept = handshake(&req)?;
    let on_upgrade = req
        .extensions_mut()
        .remove::<OnUpgrade>()
        .ok_or_else(|| AppError::BadRequest("this connection cannot be upgraded".into()))?;
    let session = user.handle();
    let view = user.view;
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(io) => TokioIo::new(io),
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket upgrade failed");
                return;
            }
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            .max_write_buffer_size(MAX_WRITE_BUFFER)
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        conn::serve(
            state,
            view,
            session,
            Ws {
                socket,
                torn: false,
            },
        )
        .await;
    });
    Ok(match accept {
        // HTTP/1.1 (RFC 6455).
        Some(accept) => (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (header::SEC_WEBSOCKET_ACCEPT, accept),
            ],
        )
            .into_response(),
        // HTTP/2's extended CONNECT (RFC 8441).
        None => StatusCode::OK.into_response(),
    })
}

/// Checks the opening handshake; the `Sec-WebSocket-Accept` to answer over
/// HTTP/1.1, none over HTTP/2.
fn handshake(req: &Request) -> Result<Option<HeaderValue>, AppError> {
    let headers = req.headers();
    let bad = |m: &str| AppError::BadRequest(format!("not a WebSocket handshake: {m}"));
    if !header_is(headers, header::SEC_WEBSOCKET_VERSION, "13") {
        return Err(bad("Sec-WebSocket-Version must be 13"));
    }
    if req.version() >= Version::HTTP_2 {
        let protocol = req.extensions().get::<hyper::ext::Protocol>();
        if req.method() != Method::CONNECT || protocol.is_none_or(|p| p.as_str() != "websocket") {
            return Err(bad("expected CONNECT with :protocol websocket"));
        }
        return Ok(None);
    }
    if req.method() != Method::GET {
        return Err(bad("expected GET"));
    }
    let connection = headers
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    if !connection || !header_is(headers, header::UPGRADE, "websocket") {
        return Err(bad("expected Connection: upgrade and Upgrade: websocket"));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| bad("Sec-WebSocket-Key is missing"))?;
    let accept = derive_accept_key(key.as_bytes());
    HeaderValue::from_str(&accept)
        .map(Some)
        .map_err(|_| bad("Sec-WebSocket-Key"))
}

fn header_is(headers: &HeaderMap, name: header::HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
}

struct Ws {
    socket: WebSocketStream<TokioIo<Upgraded>>,
    /// A write of ours was cut off mid-frame (a slow consumer kicked while
    /// its socket was full): nothing sent after it could be read as a
    /// frame, so the close frame is not sent.
    torn: bool,
}

impl Ws {
    /// Writes text frames to the socket itself, each frame's header and its
    /// shared bytes in one vectored write, and no copy in between.
    ///
    /// tungstenite would copy every frame into its write buffer, and that
    /// buffer keeps the capacity of the largest frame it ever held (the
    /// hello, a `resume`) for the connection's whole life: most of a
    /// kilobyte or more on every idle socket. Its buffer now carries only
    /// its own control frames (pongs, the close), written out by the
    /// `flush` first, so that no frame of ours can cut into one of them.
    /// A server's frames are not masked (RFC 6455, 5.1), so a frame is its
    /// header and the text as it is.
    async fn write_text(&mut self, frames: &[&str]) -> Result<(), ()> {
        self.socket.flush().await.map_err(|_| ())?;
        let headers: Vec<([u8; MAX_HEADER], usize)> =
            frames.iter().map(|f| text_header(f.len())).collect();
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(frames.len() * 2);
        for ((header, n), frame) in headers.iter().zip(frames) {
            slices.push(IoSlice::new(&header[..*n]));
            slices.push(IoSlice::new(frame.as_bytes()));
        }
        let io = self.socket.get_mut();
        let mut rest = &mut slices[..];
        self.torn = true;
        while !rest.is_empty() {
            match io.write_vectored(rest).await {
                Ok(0) | Err(_) => return Err(()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
            }
        }
        self.torn = false;
        io.flush().await.map_err(|_| ())
    }
}

/// The longest header of a server's frame: 2 bytes and a 64-bit length.
const MAX_HEADER: usize = 10;

/// The header of an unmasked, final text frame of `len` bytes (RFC 6455,
/// 5.2), and how many of its bytes are used.
fn text_header(len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut h = [0u8; MAX_HEADER];
    h[0] = 0x81; // FIN, opcode 1 (text)
    let used = if len < 126 {
        h[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, used)
}

impl Transport for Ws {
    async fn recv(&mut self) -> Option<Inbound> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Text(t)) => return Some(Inbound::Text(t.as_str().to_owned())),
                Ok(Message::Binary(_)) => return Some(Inbound::Binary),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                Ok(Message::Close(_)) => return None,
                Err(WsError::Capacity(_)) => return Some(Inbound::TooBig),
                Err(_) => return None,
            }
        }
    }

    async fn send(&mut self, frame: &str) -> Result<(), ()> {
        self.write_text(&[frame]).await
    }

    async fn send_all(&mut self, frames: &[Frame]) -> Result<(), ()> {
        let texts: Vec<&str> = frames.iter().map(|f| &**f).collect();
        self.write_text(&texts).await
    }

    async fn close(&mut self, reason: CloseReason) {
        let (code, text) = match reason {
            CloseReason::Client => (CloseCode::Normal, "bye"),
            CloseReason::TooBig => (CloseCode::Size, "message too big"),
            CloseReason::Flooding => (CloseCode::Policy, "too many frames over the rate limit"),
            CloseReason::Kicked(SHUTTING_DOWN) => (CloseCode::from(CLOSE_RESTART), SHUTTING_DOWN),
            CloseReason::Kicked(why) => (CloseCode::from(CLOSE_KICKED), why),
        };
        if self.torn {
            return;
        }
        let sent = self
            .socket
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(text),
            })))
            .await;
        if sent.is_err() {
            return;
        }
        // The closing handshake: the client answers with a close frame of
        // its own. Dropping the socket before it arrives could reset the
        // connection under frames the client sent meanwhile.
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
            if matches!(reason, CloseReason::TooBig) {
                // The frame parser gave up mid-frame: the rest of the
                // frame, then the client's close, arrive as bytes to drop.
                // On the heap, and only here: an array held across this
                // await would be part of every connection's future, 8 KiB
                // more for each idle socket (measured: 6.7 to 15.3 KiB).
                let mut sink = vec![0u8; 8192];
                while matches!(self.socket.get_mut().read(&mut sink).await, Ok(n) if n > 0) {}
            } else {
                while let Some(Ok(_)) = self.socket.next().await {}
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    /// Our header and tungstenite's own encoding of the same text frame
    /// agree at every length class (7-bit, 16-bit, 64-bit).
    #[test]
    fn text_frames_encode_as_tungstenite_does() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let text = "x".repeat(len);
            let (header, n) = text_header(len);
            let mut ours = header[..n].to_vec();
            ours.extend_from_slice(text.as_bytes());
            let mut theirs = Vec::new();
            WsFrame::message(text.into_bytes(), OpCode::Data(Data::Text), true)
                .format(&mut theirs)
                .expect("encodes");
            assert_eq!(ours, theirs, "at {len} bytes");
        }
    }
}
