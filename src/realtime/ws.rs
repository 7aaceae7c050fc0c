//! WebSocket transport: `GET /ws`, authenticated by the session cookie.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::conn::{self, CloseReason, Inbound, Transport};
use super::hub::{Frame, SHUTTING_DOWN};
use crate::auth::User;
use crate::error::AppError;
use crate::http::{Bearer, same_origin};
use crate::state::AppState;
use futures_util::SinkExt;
use kith_core::protocol::MAX_FRAME_BYTES;

/// Small buffers: an idle connection should cost little memory.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 1024;
/// A client that does not read its socket holds at most this much unsent.
const MAX_WRITE_BUFFER: usize = 256 * 1024;

/// The WebSocket close code for a kicked connection (slow consumer,
/// signed out): the reason says which.
pub const CLOSE_KICKED: u16 = 4000;
/// The close code when the server shuts down ("service restart"): the
/// client reconnects at once, to another node if there is one. WebTransport
/// sessions are closed with the same code.
pub const CLOSE_RESTART: u16 = close_code::RESTART;
/// How long a close frame we sent waits for the client's own.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    bearer: Option<Extension<Bearer>>,
    user: User,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    // Browsers always send Origin on a WebSocket handshake; a page of
    // another site must not ride on this user's cookie. A bearer token is
    // no cookie: an app's handshake may come from anywhere.
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let (None, Some(origin)) = (bearer, headers.get(header::ORIGIN)) {
        let ok = origin.to_str().is_ok_and(|o| same_origin(o, host));
        if !ok {
            return Err(AppError::Forbidden("cross-origin WebSocket refused".into()));
        }
    }
    let session = user.handle();
    let view = user.view;
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| conn::serve(state, view, session, Ws(socket))))
}

struct Ws(WebSocket);

impl Transport for Ws {
    async fn recv(&mut self) -> Option<Inbound> {
        loop {
            match self.0.recv().await? {
                Ok(Message::Text(t)) => return Some(Inbound::Text(t.as_str().to_owned())),
                Ok(Message::Binary(_)) => return Some(Inbound::Binary),
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(Message::Close(_)) => return None,
                Err(e) => {
                    let too_big = e
                        .into_inner()
                        .downcast_ref::<tokio_tungstenite::tungstenite::Error>()
                        .is_some_and(|e| {
                            matches!(e, tokio_tungstenite::tungstenite::Error::Capacity(_))
                        });
                    return too_big.then_some(Inbound::TooBig);
                }
            }
        }
    }

    async fn send(&mut self, frame: &str) -> Result<(), ()> {
        self.0
            .send(Message::Text(Utf8Bytes::from(frame)))
            .await
            .map_err(|_| ())
    }

    async fn send_all(&mut self, frames: &[Frame]) -> Result<(), ()> {
        for f in frames {
            self.0
                .feed(Message::Text(Utf8Bytes::from(&**f)))
                .await
                .map_err(|_| ())?;
        }
        self.0.flush().await.map_err(|_| ())
    }

    async fn close(&mut self, reason: CloseReason) {
        let (code, text) = match reason {
            CloseReason::Client => (close_code::NORMAL, "bye"),
            CloseReason::TooBig => (close_code::SIZE, "message too big"),
            CloseReason::Flooding => (close_code::POLICY, "too many frames over the rate limit"),
            CloseReason::Kicked(SHUTTING_DOWN) => (CLOSE_RESTART, SHUTTING_DOWN),
            CloseReason::Kicked(why) => (CLOSE_KICKED, why),
        };
        let sent = self
            .0
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(text),
            })))
            .await;
        if sent.is_ok() {
            // The closing handshake: the client answers with a close frame
            // of its own. Dropping the socket before it arrives could reset
            // the connection under frames the client sent meanwhile.
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
                while let Some(Ok(_)) = self.0.recv().await {}
            })
            .await;
        }
    }
}
