//! How long a request may take. Most routes get 30 s in all
//! ([`REQUEST_TIMEOUT`]); an upload gets no total limit, since a phone on a
//! weak link sends a 10 MB clip for a minute or more (150 KB/s), but fails
//! once no byte has arrived for [`UPLOAD_IDLE`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use tokio::time::{Instant, Sleep};

use crate::error::{AppError, BodyStalled};

/// A request that takes longer than this is answered 408 and dropped.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// An upload with no byte for this long is answered 408.
pub const UPLOAD_IDLE: Duration = Duration::from_secs(30);

/// The routes that receive uploads: a simple upload, a resumable upload's
/// bytes, an avatar.
fn is_upload(method: &Method, path: &str) -> bool {
    (method == Method::POST && path == "/api/media")
        || (method == Method::PATCH && path.starts_with("/api/uploads/"))
        || (method == Method::PUT && path == "/api/me/avatar")
}

/// Middleware: the total limit, or for an upload the idle one.
pub async fn limit_time(req: Request, next: Next) -> Response {
    if is_upload(req.method(), req.uri().path()) {
        let (parts, body) = req.into_parts();
        let body = Body::new(IdleBody::new(body, UPLOAD_IDLE));
        return next.run(Request::from_parts(parts, body)).await;
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(res) => res,
        Err(_) => AppError::Timeout(format!(
            "the request took longer than {} s",
            REQUEST_TIMEOUT.as_secs()
        ))
        .into_response(),
    }
}

/// A body that fails with [`BodyStalled`] once no frame has come for
/// `idle`.
struct IdleBody {
    inner: Body,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl IdleBody {
    fn new(inner: Body, idle: Duration) -> Self {
        IdleBody {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl http_body::Body for IdleBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = Instant::now() + this.idle;
                this.timer.as_mut().reset(next);
                Poll::Ready(frame)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyStalled(
                    this.idle.as_secs(),
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_sending_fails_and_a_slow_one_does_not() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let stream = tokio_stream_from(rx);
        let body = IdleBody::new(Body::from_stream(stream), Duration::from_secs(30));
        let mut data = Body::new(body).into_data_stream();
        // A byte every 20 s for two minutes: slow, never idle for 30 s.
        let sender = tokio::spawn(async move {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                if tx.send(Ok(Bytes::from_static(b"x"))).await.is_err() {
                    return;
                }
            }
            // Then silence, the connection held open.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(tx);
        });
        for _ in 0..6 {
            let got = data.next().await.expect("a chunk");
            assert_eq!(got.expect("not stalled"), Bytes::from_static(b"x"));
        }
        let err = data.next().await.expect("an error").expect_err("stalled");
        assert!(
            err.to_string().contains("no bytes arrived for 30 s"),
            "{err}"
        );
        sender.abort();
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> + Send + 'static {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    #[test]
    fn uploads_are_told_from_other_routes() {
        assert!(is_upload(&Method::POST, "/api/media"));
        assert!(is_upload(&Method::PATCH, "/api/uploads/abc"));
        assert!(is_upload(&Method::PUT, "/api/me/avatar"));
        assert!(!is_upload(&Method::GET, "/api/media"));
        assert!(!is_upload(&Method::POST, "/api/posts"));
        assert!(!is_upload(&Method::POST, "/api/uploads"));
    }
}
