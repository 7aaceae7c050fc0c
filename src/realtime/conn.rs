//! One live connection, whatever its transport.
//!
//! A transport ([`Transport`]) only moves text frames; [`serve`] runs the
//! loop: client frames in, queued hub frames out, until either side closes
//! or the hub kicks the connection. What each frame does is
//! [`super::session`]'s.

use std::time::Duration;

use super::hub::Frame;
use super::session::{Answer, Conn};
use crate::auth::accounts::UserView;
use crate::state::AppState;
use kith_core::ids::Id;
use kith_core::protocol::{self, ErrorCode, ServerFrame};

/// How long a close frame may wait to be written.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed or went away.
    Client,
    /// A frame over the size limit (WebSocket code 1009).
    TooBig,
    /// Kicked by the hub: slow consumer, logout, shutdown.
    Kicked(&'static str),
    /// Too many frames over the rate limit.
    Flooding,
}

/// An inbound event from a transport.
pub enum Inbound {
    Text(String),
    /// Binary data, which this protocol does not use.
    Binary,
    TooBig,
}

/// A transport carrying text frames both ways.
pub trait Transport: Send {
    /// The next inbound event; `None` once the client has gone.
    fn recv(&mut self) -> impl Future<Output = Option<Inbound>> + Send;
    fn send(&mut self, frame: &str) -> impl Future<Output = Result<(), ()>> + Send;
    /// Sends several frames; a transport that can buffer writes them with
    /// one flush (one syscall for a backlog instead of one per frame).
    fn send_all(&mut self, frames: &[Frame]) -> impl Future<Output = Result<(), ()>> + Send {
        async move {
            for f in frames {
                self.send(f).await?;
            }
            Ok(())
        }
    }
    /// Closes with a reason the client can read, where the transport can.
    fn close(&mut self, reason: CloseReason) -> impl Future<Output = ()> + Send;
}

/// Queued frames written together at most (one flush).
const SEND_BATCH: usize = 64;

/// Serves one connection of `user` over `transport` until it ends.
/// `session` is the handle of the session it was opened under: when that
/// session ends, the connection closes.
pub async fn serve<T: Transport>(
    state: AppState,
    user: UserView,
    session: Option<Id>,
    mut transport: T,
) {
    // Every await but the idle one is boxed: a future holds the state of
    // its largest await point for its whole life, so an inline `handle`
    // (sync, resume, sends) would make every idle connection as large as
    // the busiest moment of any. Boxed, an idle socket keeps only the
    // select below; a frame costs one allocation while it is handled.
    let (mut conn, reg, hello) = Box::pin(Conn::open(state, user, session)).await;
    let mut reason = CloseReason::Client;
    let mut ok = true;
    for f in hello {
        ok &= transport.send(&f).await.is_ok();
    }
    while ok {
        tokio::select! {
            inbound = transport.recv() => match inbound {
                None => break,
                Some(Inbound::TooBig) => { reason = CloseReason::TooBig; break; }
                Some(Inbound::Binary) => {
                    let f = ServerFrame::error(ErrorCode::BadFrame, "frames are JSON text").encode();
                    ok = transport.send(&f).await.is_ok();
                }
                Some(Inbound::Text(text)) => {
                    let mut next = Some(protocol::parse(&text));
                    while let Some(frame) = next.take() {
                        let out = match frame {
                            Ok(frame) => Box::pin(conn.handle(frame)).await,
                            Err(err) => Answer::reply(err),
                        };
                        for f in &out.frames {
                            ok &= transport.send(f).await.is_ok();
                        }
                        next = out.then.map(Ok);
                    }
                    if conn.flooding() {
                        reason = CloseReason::Flooding;
                        break;
                    }
                }
            },
            // Whatever else is queued goes out with it, up to a batch. A
            // batch of its own each time: one kept would hold its largest
            // size (up to 1 KiB) on every idle connection.
            batch = reg.outbox.next_batch(SEND_BATCH) => {
                // A client that stops reading blocks this send; the hub
                // then kicks it once its queue fills, which ends the wait.
                tokio::select! {
                    r = Box::pin(transport.send_all(&batch)) => ok = r.is_ok(),
                    why = reg.kick.kicked() => { reason = CloseReason::Kicked(why); break; }
                }
            }
            why = reg.kick.kicked() => { reason = CloseReason::Kicked(why); break; }
        }
    }
    if reason != CloseReason::Client {
        // The close frame waits behind whatever the client has not read;
        // a client that reads nothing gets its socket dropped instead.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, Box::pin(transport.close(reason))).await;
    }
    Box::pin(conn.close(reg.conn)).await;
}
