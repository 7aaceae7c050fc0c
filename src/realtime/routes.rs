//! `/ws`, `/api/realtime/ticket` and `/api/realtime/config`.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::User;
use crate::error::ErrorBody;
use crate::http::Json;
use crate::state::AppState;
use kith_core::ids::Id;
use kith_core::ticket::TTL_MS;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ticket))
        .routes(routes!(config))
}

#[derive(Serialize, ToSchema)]
pub struct Ticket {
    /// Pass as `?ticket=` to `/wt`.
    pub ticket: String,
    pub expires_in_seconds: i64,
}

#[utoipa::path(post, path = "/api/realtime/ticket", tag = "realtime",
    responses(
        (status = 200, description = "A short-lived ticket for WebTransport", body = Ticket),
        (status = 401, body = ErrorBody),
    ))]
async fn ticket(State(state): State<AppState>, user: User) -> Json<Ticket> {
    Json(Ticket {
        ticket: state.tickets.issue(user.id, user.handle().unwrap_or(Id(0))),
        expires_in_seconds: TTL_MS / 1000,
    })
}

#[derive(Serialize, ToSchema)]
pub struct Endpoint {
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct CertHash {
    /// Always `sha-256`.
    pub algorithm: &'static str,
    /// Base64 of the certificate's SHA-256, for `serverCertificateHashes`.
    pub value: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebTransportEndpoint {
    pub url: String,
    /// The served certificate's hash, then that of the one replacing it at
    /// the next rotation (the same on every node); pass them all to
    /// `serverCertificateHashes`. Empty while the node has none to publish.
    pub cert_hashes: Vec<CertHash>,
}

#[derive(Serialize, ToSchema)]
pub struct RealtimeConfig {
    pub websocket: Endpoint,
    /// Null when WebTransport is off.
    pub webtransport: Option<WebTransportEndpoint>,
}

#[utoipa::path(get, path = "/api/realtime/config", tag = "realtime",
    responses((status = 200, body = RealtimeConfig)))]
async fn config(State(state): State<AppState>, headers: HeaderMap) -> Json<RealtimeConfig> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let secure = state.config.secure_cookies;
    let ws_scheme = if secure { "wss" } else { "ws" };
    let webtransport = state.webtransport.as_ref().map(|wt| {
        let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
        WebTransportEndpoint {
            url: format!("https://{hostname}:{}/wt", wt.port),
            cert_hashes: wt
                .cert_hashes
                .read()
                .map(|h| h.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|value| CertHash {
                    algorithm: "sha-256",
                    value,
                })
                .collect(),
        }
    });
    Json(RealtimeConfig {
        websocket: Endpoint {
            url: format!("{ws_scheme}://{host}/ws"),
        },
        webtransport,
    })
}
