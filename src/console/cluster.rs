//! `GET /api/admin/cluster`: every node, with its role, region, live
//! connections and replication lag, and its last hour; and the gathering
//! of every node's stats over the cluster link that the overview shares.

use std::time::Duration;

use axum::extract::State;
use futures_util::future::join_all;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::{AppError, ErrorBody};
use crate::http::Json;
use crate::metrics::history::{NodeStats, Point};
use crate::state::AppState;
use crate::store::nodes;

/// How long another node may take to answer (connecting included); the
/// nodes are asked in parallel, so a page waits at most this long.
pub(super) const ASK_TIMEOUT: Duration = Duration::from_secs(2);
/// Rows not refreshed for this long (a node refreshes its row every 5 s)
/// are listed unreachable without asking.
const ASK_FRESHER_THAN: Duration = Duration::from_secs(60);

/// One node as gathered: its row (or, for this node, what it knows of
/// itself), and its stats when it answered.
pub(super) struct Member {
    pub name: String,
    pub endpoint_id: Option<String>,
    pub role: String,
    pub region: String,
    pub http_addr: String,
    pub started_at: i64,
    pub heartbeat_at: Option<i64>,
    pub this_node: bool,
    pub stats: Option<NodeStats>,
}

/// Every node: this one, and each other `nodes` row, asked over the
/// cluster link in parallel within [`ASK_TIMEOUT`]; a node that does not
/// answer keeps its last-known row and no stats. Sorted by name.
pub(super) async fn gather(state: &AppState) -> Result<Vec<Member>, AppError> {
    let local = state
        .metrics
        .history
        .snapshot(state.hub.connections() as i64);
    let Some(cluster) = &state.cluster else {
        return Ok(vec![Member {
            name: crate::config::host_name(),
            endpoint_id: None,
            role: state.role().as_str().into(),
            region: String::new(),
            http_addr: state.http_addr.to_string(),
            started_at: local.started_ms,
            heartbeat_at: None,
            this_node: true,
            stats: Some(local),
        }]);
    };
    let rows = nodes::all(&state.read).await?;
    let me = cluster.id.to_string();
    let mine = rows.iter().find(|r| r.endpoint_id == me);
    let mut out = vec![Member {
        name: cluster.name.clone(),
        endpoint_id: Some(me.clone()),
        role: cluster.role().as_str().into(),
        region: cluster.region.clone(),
        http_addr: state.http_addr.to_string(),
        started_at: mine.map_or(local.started_ms, |r| r.started_at),
        heartbeat_at: mine.map(|r| r.heartbeat_at),
        this_node: true,
        stats: Some(local),
    }];
    let now = kith_core::ids::now_ms();
    let asks = rows
        .iter()
        .filter(|r| r.endpoint_id != me)
        .map(|r| async move {
            let fresh = now - r.heartbeat_at < ASK_FRESHER_THAN.as_millis() as i64;
            let answer = match cluster.endpoint_id(&r.endpoint_id) {
                Some(id) if fresh => match cluster.links.stats(cluster, id, ASK_TIMEOUT).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::debug!(error = %e, node = %r.name, "no stats from a node");
                        None
                    }
                },
                _ => None,
            };
            Member {
                name: r.name.clone(),
                endpoint_id: Some(r.endpoint_id.clone()),
                role: answer
                    .as_ref()
                    .map_or_else(|| r.role.clone(), |a| a.role.clone()),
                region: r.region.clone(),
                http_addr: r.http_addr.clone(),
                started_at: r.started_at,
                heartbeat_at: Some(r.heartbeat_at),
                this_node: false,
                stats: answer.map(|a| a.stats),
            }
        });
    out.extend(join_all(asks).await);
    out.sort_by(|a, b| a.name.cmp(&b.name).then(b.this_node.cmp(&a.this_node)));
    Ok(out)
}

/// A time (ms since the epoch) as RFC 3339.
pub(super) fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The minutes a page shows: the hour before the current minute of the
/// node serving it, oldest first.
pub(super) fn minutes(current: i64) -> impl Iterator<Item = i64> {
    let n = crate::metrics::history::MINUTES as i64;
    current - n..current
}

/// `stats`' point for `minute`, if its hour covers it.
pub(super) fn point(stats: &NodeStats, minute: i64) -> Option<&Point> {
    let first = stats.series.first()?.minute;
    let i = usize::try_from(minute - first).ok()?;
    stats.series.get(i).filter(|p| p.minute == minute)
}

#[derive(Serialize, ToSchema)]
pub struct Cluster {
    /// Every node, sorted by name; on a single node, itself.
    pub nodes: Vec<NodeView>,
}

#[derive(Serialize, ToSchema)]
pub struct NodeView {
    pub name: String,
    /// The node's cluster endpoint id; absent on a single node.
    pub endpoint_id: Option<String>,
    /// `primary` or `replica`: as the node answered, else as its row last
    /// said.
    pub role: String,
    pub region: String,
    pub http_addr: String,
    /// RFC 3339.
    pub started_at: String,
    /// The last refresh of the node's `nodes` row (every 5 s while it
    /// runs), RFC 3339; absent on a single node.
    pub heartbeat_at: Option<String>,
    /// Whether this is the node that served the page.
    pub this_node: bool,
    /// Whether it answered within 2 s. When not, the row is its last-known
    /// one and its figures are null.
    pub reachable: bool,
    /// Open WebSocket and WebTransport connections now.
    pub connections: Option<i64>,
    /// How far the node's copy of the database is behind the primary, in
    /// ms: 0 on the primary and on a shared database file; on a LiteFS
    /// replica, an estimate from replication positions (how long the oldest
    /// position the primary announced and this copy has not reached has
    /// been waiting: a lower bound, to within the 2 s heartbeat); null when
    /// unknown.
    pub replication_lag_ms: Option<i64>,
    /// The last hour, one point a minute, oldest first (60 points; null
    /// figures for minutes the node was not running or did not answer).
    pub series: Vec<NodePoint>,
}

#[derive(Serialize, ToSchema)]
pub struct NodePoint {
    /// Start of the minute, RFC 3339.
    pub at: String,
    /// The minute's peak.
    pub connections: Option<i64>,
    /// The minute's peak.
    pub replication_lag_ms: Option<i64>,
}

#[utoipa::path(get, path = "/api/admin/cluster", tag = "admin",
    responses(
        (status = 200, body = Cluster),
        (status = 401, description = "Signed out", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
async fn cluster(
    State(state): State<AppState>,
    Admin(_admin): Admin,
) -> Result<Json<Cluster>, AppError> {
    let members = gather(&state).await?;
    let current = kith_core::ids::now_ms().div_euclid(60_000);
    let nodes = members
        .into_iter()
        .map(|m| {
            let series = minutes(current)
                .map(|minute| {
                    let p = m.stats.as_ref().and_then(|s| point(s, minute));
                    NodePoint {
                        at: rfc3339(minute * 60_000),
                        connections: p.and_then(|p| p.connections),
                        replication_lag_ms: p.and_then(|p| p.replication_lag_ms),
                    }
                })
                .collect();
            NodeView {
                name: m.name,
                endpoint_id: m.endpoint_id,
                role: m.role,
                region: m.region,
                http_addr: m.http_addr,
                started_at: rfc3339(m.started_at),
                heartbeat_at: m.heartbeat_at.map(rfc3339),
                this_node: m.this_node,
                reachable: m.stats.is_some(),
                connections: m.stats.as_ref().map(|s| s.connections),
                replication_lag_ms: m.stats.as_ref().and_then(|s| s.replication_lag_ms),
                series,
            }
        })
        .collect();
    Ok(Json(Cluster { nodes }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(cluster))
}
