//! `GET /api/admin/overview`: the cluster's requests per second, p99
//! latency, errors, job-queue depth and connections, now and over the
//! last hour.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cluster::{gather, minutes, point, rfc3339};
use crate::auth::Admin;
use crate::error::{AppError, ErrorBody};
use crate::http::Json;
use crate::metrics::history::STEP_SECS;
use crate::state::AppState;

/// The whole cluster at a glance. Counts and rates are summed over the
/// nodes that answered; a p99 is the worst of those nodes' p99s (not a
/// cluster-wide percentile); queue depth is read from the database, which
/// every node shares.
#[derive(Serialize, ToSchema)]
pub struct Overview {
    /// Seconds per point of `series`: 60.
    pub step_secs: u64,
    /// RFC 3339, by the clock of the node serving the page.
    pub now: String,
    /// Nodes whose figures are included (those that answered within 2 s).
    pub nodes: usize,
    pub current: Current,
    /// The last 60 finished minutes, oldest first.
    pub series: Vec<OverviewPoint>,
}

#[derive(Serialize, ToSchema)]
pub struct Current {
    /// Over a sliding minute (this minute so far and the part of the last
    /// one still inside the window), summed over nodes.
    pub requests_per_sec: f64,
    /// The worst node's p99 latency over the last minute or two (to the
    /// response's head, within 12.5 %); null when no requests.
    pub p99_ms: Option<f64>,
    /// 5xx responses over the same sliding minute, summed over nodes.
    pub errors_per_min: f64,
    /// Jobs queued or waiting for a retry, now.
    pub queue_depth: i64,
    /// Open WebSocket and WebTransport connections, summed over nodes.
    pub connections: i64,
    /// Requests, 5xx and 4xx responses in the current minute so far.
    pub requests: i64,
    pub errors: i64,
    pub client_errors: i64,
}

#[derive(Serialize, ToSchema)]
pub struct OverviewPoint {
    /// Start of the minute, RFC 3339.
    pub at: String,
    /// The minute's requests over 60, summed over nodes.
    pub requests_per_sec: f64,
    /// The worst node's p99 in that minute; null without requests.
    pub p99_ms: Option<f64>,
    /// 5xx responses in that minute, summed over nodes.
    pub errors: i64,
    /// The minute's peak, as the nodes sampled it.
    pub queue_depth: i64,
    /// The sum of each node's peak in that minute.
    pub connections: i64,
    /// Requests and 4xx responses in that minute, summed over nodes.
    pub requests: i64,
    pub client_errors: i64,
}

fn worst(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[utoipa::path(get, path = "/api/admin/overview", tag = "admin",
    responses(
        (status = 200, body = Overview),
        (status = 401, description = "Signed out", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
async fn overview(
    State(state): State<AppState>,
    Admin(_admin): Admin,
) -> Result<Json<Overview>, AppError> {
    let members = gather(&state).await?;
    let queue_depth = crate::metrics::queue_depth(&state.read).await?;
    let now = kith_core::ids::now_ms();
    let answered: Vec<_> = members.iter().filter_map(|m| m.stats.as_ref()).collect();
    let mut current = Current {
        requests_per_sec: 0.0,
        p99_ms: None,
        errors_per_min: 0.0,
        queue_depth,
        connections: 0,
        requests: 0,
        errors: 0,
        client_errors: 0,
    };
    for s in &answered {
        current.requests_per_sec += s.requests_per_sec;
        current.p99_ms = worst(current.p99_ms, s.p99_ms);
        current.errors_per_min += s.errors_per_min;
        current.connections += s.connections;
        current.requests += s.requests as i64;
        current.errors += s.errors as i64;
        current.client_errors += s.client_errors as i64;
    }
    let series = minutes(now.div_euclid(STEP_SECS as i64 * 1000))
        .map(|minute| {
            let mut p = OverviewPoint {
                at: rfc3339(minute * STEP_SECS as i64 * 1000),
                requests_per_sec: 0.0,
                p99_ms: None,
                errors: 0,
                queue_depth: 0,
                connections: 0,
                requests: 0,
                client_errors: 0,
            };
            for q in answered.iter().filter_map(|s| point(s, minute)) {
                p.requests += q.requests as i64;
                p.errors += q.errors as i64;
                p.client_errors += q.client_errors as i64;
                p.p99_ms = worst(p.p99_ms, q.p99_ms);
                p.queue_depth = p.queue_depth.max(q.queue_depth.unwrap_or(0));
                p.connections += q.connections.unwrap_or(0);
            }
            p.requests_per_sec = p.requests as f64 / STEP_SECS as f64;
            p
        })
        .collect();
    Ok(Json(Overview {
        step_secs: STEP_SECS,
        now: rfc3339(now),
        nodes: answered.len(),
        current,
        series,
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview))
}
