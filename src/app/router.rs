//! The HTTP surface: every route, and the layers every request passes
//! through (request id, trace span, timeout, body limit, security headers,
//! session, write limit, metrics, cross-origin check).

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::session_store::WriterStore;
use crate::error::AppError;
use crate::http::reject_cross_origin;
use crate::state::AppState;
use crate::{assets, auth, chat, jobs, media, notify, realtime, social};

/// The largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
pub use crate::http::timeout::REQUEST_TIMEOUT;
#[derive(OpenApi)]
#[openapi(
    info(title = "kith", description = "A self-hostable social backend in one binary."),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "users", description = "Profiles"),
        (name = "friends", description = "Friend requests and friendships"),
        (name = "posts", description = "Posts, likes, comments and the feed"),
        (name = "search", description = "Full-text search"),
        (name = "chat", description = "Conversations and messages"),
        (name = "notifications", description = "Notifications"),
        (name = "realtime", description = "WebSocket and WebTransport set-up"),
        (name = "media", description = "Photo and video uploads (simple and resumable), processing, attachments"),
        (name = "jobs", description = "The job queue"),
        (name = "admin", description = "The admin console: users, reports, sign-ups, jobs, the cluster"),
        (name = "community", description = "Invites, reports and mutes"),
        (name = "system", description = "Health and metadata"),
    )
)]
struct ApiDoc;

/// The whole HTTP surface: kith's routes inside [`with_layers`].
pub fn router(state: AppState) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes::router())
        .merge(auth::sessions::router())
        .merge(auth::tokens::router())
        .merge(crate::account::router())
        .merge(social::router())
        .merge(chat::routes::router())
        .merge(chat::groups::router())
        .merge(notify::router())
        .merge(crate::push::routes::router())
        .merge(realtime::routes::router())
        .merge(jobs::routes::router())
        .merge(
            media::routes::router().layer(DefaultBodyLimit::max(
                usize::try_from(state.config.max_upload_bytes)
                    .unwrap_or(usize::MAX)
                    .saturating_add(64 * 1024),
            )),
        )
        .merge(media::tus::router())
        .merge(media::avatar::router())
        .merge(super::health::router())
        .merge(crate::console::router())
        .merge(crate::community::router())
        .merge(auth::recovery::router())
        .split_for_parts();
    let openapi = Arc::new(openapi);
    let routes = api
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc) }
            }),
        )
        .route("/ws", get(realtime::ws::upgrade))
        .route("/metrics", get(crate::http::metrics::serve))
        .route("/media/{name}", get(media::routes::file))
        .fallback(assets::serve)
        .method_not_allowed_fallback(method_not_allowed);
    with_layers(routes, state)
}

/// Wraps routes in the middleware every kith route runs behind: request
/// ids, tracing, panic catching, security headers, timeout, the
/// cross-origin check, the body limit, sessions and the per-user write
/// limit. Public so that tests can
/// put a route of their own behind exactly the same stack.
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let secure = state.config.secure_cookies;
    let sessions = SessionManagerLayer::new(WriterStore::new(
        state.writer.clone(),
        state.read.clone(),
        state.sessions.clone(),
    ))
    .with_name(crate::http::bearer::cookie_name(secure))
    .with_secure(secure)
    .with_http_only(true)
    .with_same_site(SameSite::Lax)
    .with_path("/")
    .with_expiry(Expiry::OnInactivity(time::Duration::days(30)));

    let x_request_id = HeaderName::from_static("x-request-id");
    routes
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(
                    x_request_id.clone(),
                    crate::http::request_id::Sequential::default(),
                ))
                .layer(PropagateRequestIdLayer::new(x_request_id))
                // The span names the request by id, method and path only:
                // no query string (where a ticket could ride), no headers
                // (cookies), no body (passwords).
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                // The web client's policy on every response (its
                // `frame-ancestors 'none'` forbids framing anywhere), so a
                // JSON body or a media file opened on its own runs nothing.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(assets::CSP),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::STRICT_TRANSPORT_SECURITY,
                    hsts(secure),
                ))
                // Inside the header layers, so a panic's 500 gets them too.
                .layer(CatchPanicLayer::custom(panic_response))
                // 30 s in all; an upload only fails when it stalls.
                .layer(middleware::from_fn(crate::http::timeout::limit_time))
                // Outside the cross-origin check and the session layer: it
                // marks bearer requests for the one and hands their token
                // to the other.
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    crate::http::bearer::bearer,
                ))
                .layer(middleware::from_fn(reject_cross_origin))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    crate::http::metrics::track,
                ))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                .layer(sessions)
                // Inside the session layer: it limits by the signed-in user.
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    crate::http::write_limit::limit_writes,
                ))
                // Inside the write limit: a repeat counts as a write too.
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    crate::http::idempotency::keyed,
                )),
        )
        .with_state(state)
}

/// HSTS when kith is served over HTTPS (`--secure-cookies`): two years,
/// subdomains included. Without HTTPS the header is left out (an empty
/// value is never sent).
fn hsts(secure: bool) -> Option<HeaderValue> {
    secure.then(|| HeaderValue::from_static("max-age=63072000; includeSubDomains"))
}

fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", id, method = %req.method(), path = req.uri().path())
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed("method not allowed on this path".into())
}

fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    AppError::Internal(anyhow::anyhow!("handler panicked: {msg}")).into_response()
}
