//! `GET /healthz`: what a load balancer and an operator need to know of a
//! node.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::cluster::Role;
use crate::http::Json;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the database cannot be read.
    pub status: &'static str,
    pub version: &'static str,
    /// `primary`: this node runs the writer; `replica`: it forwards writes.
    pub role: &'static str,
    /// This node's cluster endpoint id; absent on a single node.
    pub endpoint_id: Option<String>,
    /// The primary's node name, when known.
    pub primary: Option<String>,
    /// Nodes this one hears from over gossip (endpoint ids).
    pub members: Vec<String>,
    /// Replication lag in transactions behind the primary, where LiteFS
    /// reports positions.
    pub replication_lag: Option<u64>,
    /// Whether ffmpeg was found; without it no transcodes run here.
    pub ffmpeg: bool,
    /// Job workers running on this node.
    pub workers: usize,
}

#[utoipa::path(get, path = "/healthz", tag = "system",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "The database cannot be read", body = Health),
    ))]
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let db_ok = sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(&state.read)
        .await
        .is_ok();
    let primary = match &state.cluster {
        None => None,
        Some(c) if c.role() == Role::Primary => Some(c.name.clone()),
        Some(c) => {
            let name = c.litefs.as_ref().and_then(|fs| fs.primary());
            crate::cluster::primary_row(&state.reader, name.as_deref())
                .ok()
                .flatten()
                .map(|r| r.name)
                .or(name)
        }
    };
    let (code, status) = if db_ok {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "degraded")
    };
    (
        code,
        Json(Health {
            status,
            version: env!("CARGO_PKG_VERSION"),
            role: state.role().as_str(),
            endpoint_id: state.cluster.as_ref().map(|c| c.id.to_string()),
            primary,
            members: state
                .cluster
                .as_ref()
                .map(|c| c.peers())
                .unwrap_or_default(),
            replication_lag: state.cluster.as_ref().and_then(|c| c.replication_lag()),
            ffmpeg: state.tools.is_some(),
            workers: if state.tools.is_some() {
                state.config.workers
            } else {
                0
            },
        }),
    )
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz))
}
