//! `/metrics` and the middleware that counts requests ([`crate::metrics`]).

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Middleware: counts each request by its route template and status.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // A cheap clone (the template is shared), not a copy of the string.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let res = next.run(req).await;
    state.metrics.request(
        route.as_ref().map_or("other", MatchedPath::as_str),
        res.status().as_u16(),
    );
    res
}

/// `GET /metrics`: Prometheus text format.
pub async fn serve(State(state): State<AppState>) -> Response {
    let depth = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'failed')",
    )
    .fetch_one(&state.read)
    .await
    .ok();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(state.hub.connections(), depth),
    )
        .into_response()
}
