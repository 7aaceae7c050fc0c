//! Serving HTTP on a TCP listener, with the connection limits that
//! `axum::serve` leaves out.
//!
//! `axum::serve` gives hyper no timer, so hyper never times out reading a
//! request head: a client that opens connections and trickles bytes, or
//! sends none at all (slow-loris), holds each connection and its task for
//! as long as it likes. Here:
//!
//! - a connection must deliver its first request head within
//!   [`HEADER_TIMEOUT`] of being accepted, whatever its protocol (hyper's
//!   HTTP/1 timer only starts once the protocol has been sniffed, and the
//!   sniffing waits for bytes without limit);
//! - every later HTTP/1 request head must arrive within [`HEADER_TIMEOUT`]
//!   of the connection turning idle (hyper's `header_read_timeout`), which
//!   also closes idle keep-alive connections after that long;
//! - an HTTP/2 connection is pinged and dropped if a ping goes unanswered.
//!
//! Handlers and request bodies are bounded by the request timeout and the
//! body limits in [`crate::app::with_layers`].

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// How long a client has to send a request's head (request line and
/// headers), and how long an idle HTTP/1 connection is kept open. Any real
/// client sends a head in well under a second.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2: how often an idle connection is pinged, and how long the answer
/// may take.
const H2_PING_EVERY: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

fn builder() -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    b.http2()
        .timer(TokioTimer::new())
        // WebSocket over HTTP/2 (RFC 8441).
        .enable_connect_protocol()
        .keep_alive_interval(H2_PING_EVERY)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    b
}

/// Serves `router` on `listener` until `shutdown` completes. Then, in this
/// order: the listener is closed, so new connections are refused; `closed`
/// runs; every connection is told to finish: requests in flight complete
/// (an HTTP/1 response then says `Connection: close`), idle connections
/// close. Returns once every connection has finished. Each request carries
/// the peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
    closed: impl FnOnce() + Send,
) {
    let builder = builder();
    // Dropping `stop_rx` tells every connection to finish; each holds a
    // clone of `done_rx`, so `done_tx.closed()` completes when all have.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            res = listener.accept() => match res {
                Ok(conn) => conn,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            builder.clone(),
            stop_tx.clone(),
            done_rx.clone(),
        ));
    }
    drop(listener);
    closed();
    drop(stop_rx);
    drop(done_rx);
    done_tx.closed().await;
}

/// Serves one connection until it ends, its first request head is late, or
/// shutdown has let its requests in flight finish.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: Builder<TokioExecutor>,
    stop: watch::Sender<()>,
    _done: watch::Receiver<()>,
) {
    // Nagle's algorithm holds a small write back until the last one is
    // acknowledged, and the peer delays that acknowledgement by up to 40 ms
    // on Linux: a socket answering a frame with several (a `sync`'s items,
    // then `synced`) waited about 43 ms per exchange, measured with
    // bench `--only resume`. Every write here is a whole response or frame.
    let _ = stream.set_nodelay(true);
    let head_seen = Arc::new(AtomicBool::new(false));
    let seen = head_seen.clone();
    let service = router.map_request(move |mut req: Request<Incoming>| {
        seen.store(true, Ordering::Relaxed);
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
    let mut conn = pin!(conn);
    let mut first_head = pin!(tokio::time::sleep(HEADER_TIMEOUT));
    let mut stopping = pin!(stop.closed());
    let (mut waiting, mut closing) = (true, false);
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::trace!(%peer, error = %e, "connection failed");
                }
                break;
            }
            () = first_head.as_mut(), if waiting => {
                if !head_seen.load(Ordering::Relaxed) {
                    // Dropping the connection closes the socket.
                    tracing::debug!(%peer, "no request head in time; closing");
                    break;
                }
                waiting = false;
            }
            () = stopping.as_mut(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Errors of one connection (the client gave up before it was accepted)
/// are nothing to wait for; anything else (out of file descriptors) is
/// logged, and accepting pauses for a second so as not to spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
