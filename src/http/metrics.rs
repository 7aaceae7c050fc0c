//! `/metrics` and the middleware that counts requests ([`crate::metrics`]).

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

use crate::state::AppState;

/// Middleware: counts each request by its route template and status, and
/// into the console's history with its latency (until the response's
/// head: a streamed body is not waited for). Beyond the Prometheus
/// counter, a request costs three clock reads and four relaxed atomic adds
/// ([`crate::metrics::history`]); it is recorded before its response is
/// written, so a client that has the response finds it counted.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    // A cheap clone (the template is shared), not a copy of the string.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    state
        .metrics
        .request(route.as_ref().map_or("other", MatchedPath::as_str), status);
    state.metrics.history.record(status, start.elapsed());
    res
}

/// `GET /metrics`: Prometheus text format.
pub async fn serve(State(state): State<AppState>) -> Response {
    let depth = crate::metrics::queue_depth(&state.read).await.ok();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(state.hub.connections(), depth),
    )
        .into_response()
}
