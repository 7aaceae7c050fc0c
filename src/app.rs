//! Building and running the server: state, router, background tasks,
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use moka::future::Cache;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::password::Passwords;
use crate::auth::session_store::WriterStore;
use crate::backup::lock::{DataDirLock, LockError};
use crate::cluster::litefs::LiteFs;
use crate::cluster::{self, Cluster, Role};
use crate::config::Config;
use crate::config::RoleChoice;
use crate::db::{self, Writer};
use crate::error::AppError;
use crate::http::{Json, reject_cross_origin};
use crate::jobs::job::{Kinds, Noop};
use crate::jobs::worker::{self, WorkerConfig};
use crate::limits::{self, PerUser};
use crate::media::store::MediaStore;
use crate::media::tools::Tools;
use crate::media::transcode::VideoJob;
use crate::metrics::Metrics;
use crate::realtime::Hub;
use crate::realtime::hub::SHUTTING_DOWN;
use crate::realtime::ticket::TicketKey;
use crate::realtime::webtransport::{self, CertFiles};
use crate::realtime::wt_info::WtInfo;
pub use crate::state::DRAIN_TIMEOUT;
use crate::state::{AppState, Inner};
use crate::store::attempts::PruneAttempts;
use crate::store::sessions::DeleteExpiredSessions;
use crate::{assets, auth, backup, chat, jobs, media, notify, realtime, social};
use tokio::sync::Notify;

/// The largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A request that takes longer than this is answered 408 and dropped.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for each job worker to give its job back.
const WORKER_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for WebTransport to finish closing its sessions
/// once requests have drained.
const WT_STOP_TIMEOUT: Duration = Duration::from_secs(3);
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// A built server: listener bound, database open, not yet serving.
pub struct App {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    state: AppState,
    /// The local writer thread; `None` on a replica.
    writer_task: Option<JoinHandle<()>>,
    checkpointer: Option<db::Checkpointer>,
    wt_task: Option<JoinHandle<()>>,
    /// Turns true when shutdown begins (WebTransport, backups and the drain
    /// follow it).
    stopping: tokio::sync::watch::Sender<bool>,
    /// Held until the server has stopped: `kith restore` refuses while it
    /// is. `None` where the file system has no locks.
    data_lock: Option<DataDirLock>,
}

/// The role a node starts in.
fn initial_role(config: &Config, litefs: Option<&LiteFs>) -> anyhow::Result<Role> {
    let role = match (config.role, litefs) {
        (RoleChoice::Primary, _) => Role::Primary,
        (RoleChoice::Replica, _) => Role::Replica,
        (RoleChoice::Auto, Some(fs)) if fs.primary().is_some() => Role::Replica,
        (RoleChoice::Auto, _) => Role::Primary,
    };
    if role == Role::Replica && config.cluster.is_none() {
        anyhow::bail!("a replica needs --cluster-listen and --cluster-secret to reach the primary");
    }
    Ok(role)
}

/// How long a replica waits for the primary to create the schema.
const SCHEMA_WAIT: Duration = Duration::from_secs(60);

/// A replica does not migrate: it waits until the database it reads has
/// the schema this binary expects.
async fn wait_for_schema(path: &std::path::Path) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + SCHEMA_WAIT;
    loop {
        let version = match db::open_read_pool(path).await {
            Ok(pool) => {
                let v = sqlx::query_scalar::<_, i64>("PRAGMA user_version")
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(0);
                pool.close().await;
                v
            }
            Err(_) => 0,
        };
        if version >= db::schema::latest() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the database at {} has schema version {version}; waited for the primary to apply {}",
                path.display(),
                db::schema::latest()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

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
        (name = "media", description = "Video upload and transcoding"),
        (name = "jobs", description = "The job queue"),
        (name = "system", description = "Health and metadata"),
    )
)]
struct ApiDoc;

impl App {
    /// Opens the database, applies the schema, starts the writer and binds
    /// the listener (port 0 picks a free port; see `local_addr`).
    pub async fn build(config: Config) -> anyhow::Result<App> {
        std::fs::create_dir_all(&config.data_dir)?;
        let data_lock = match DataDirLock::serving(&config.data_dir) {
            Ok(lock) => Some(lock),
            Err(LockError::Held(lock)) => anyhow::bail!(
                "a restore is replacing the database (it holds {}); start kith once it is done",
                lock.display()
            ),
            Err(LockError::Io(lock, e)) => {
                tracing::warn!(lock = %lock.display(), error = %e, "cannot lock the data directory: `kith restore` will not see this server");
                None
            }
        };
        std::fs::create_dir_all(&config.media_dir)?;
        let litefs = config
            .litefs_dir
            .as_deref()
            .map(|dir| LiteFs::new(dir, &config.db));
        let role = initial_role(&config, litefs.as_ref())?;
        // The primary writes here; a replica waits for the primary's schema
        // and forwards its writes through the cluster (below).
        let (local_writer, writer_task, checkpointer) = match role {
            Role::Replica => {
                wait_for_schema(&config.db).await?;
                (None, None, None)
            }
            Role::Primary => {
                let conn = db::open_writer_connection(&config.db)?;
                let (writer, task) = Writer::start(conn);
                (
                    Some(writer),
                    Some(task),
                    Some(db::Checkpointer::start(&config.db)?),
                )
            }
        };
        let read = db::open_read_pool(&config.db).await?;
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let hub = Arc::new(Hub::default());
        let metrics = Arc::new(Metrics::default());
        let users = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(10))
            .build();
        let (presence_tx, presence_rx) = tokio::sync::mpsc::unbounded_channel();
        let (writer, cluster) = match &config.cluster {
            Some(c) => {
                let host = |cluster| cluster::Host {
                    read: read.clone(),
                    writer: local_writer.unwrap_or_else(|| {
                        Writer::remote(Arc::new(cluster::link::Forwarder(cluster)))
                    }),
                    hub: hub.clone(),
                    metrics: metrics.clone(),
                    users: users.clone(),
                    http_addr: addr,
                    db_path: config.db.clone(),
                    presence: presence_tx,
                };
                let cluster = Cluster::start(c, &config.data_dir, litefs, role, host).await?;
                (cluster.host().writer.clone(), Some(cluster))
            }
            None => match local_writer {
                Some(w) => (w, None),
                None => unreachable!("initial_role refuses a replica without a cluster"),
            },
        };
        let tickets = TicketKey::new(db::setting_or_init(&writer, &read, "ticket_key", 32).await?);
        // UDP: the HTTP address unless configured apart.
        let wt_addr = match &config.wt_listen {
            None => addr,
            Some(spec) => tokio::net::lookup_host(spec.as_str())
                .await
                .with_context(|| format!("--wt-listen {spec}"))?
                .next()
                .with_context(|| format!("--wt-listen {spec}: no address"))?,
        };
        let webtransport = config.webtransport.then(|| {
            Arc::new(WtInfo {
                port: if wt_addr.port() == 0 {
                    addr.port()
                } else {
                    wt_addr.port()
                },
                ..WtInfo::default()
            })
        });
        let tools = Tools::locate(&config.ffmpeg, config.transcode_timeout);
        if tools.is_none() {
            tracing::warn!(ffmpeg = %config.ffmpeg.display(), "ffmpeg not found: no job workers on this node");
        }
        let media = MediaStore::from_spec(&config.media_store)?;
        let state = AppState(Arc::new(Inner {
            tools,
            media,
            wake_workers: Arc::new(Notify::new()),
            hub,
            tickets,
            webtransport,
            users,
            passwords: Passwords::new()?,
            write_limits: config.limits.writes.map(PerUser::new),
            send_limits: config.limits.writes.map(|_| PerUser::new(limits::SENDS)),
            read,
            writer,
            config,
            cluster,
            metrics,
            http_addr: addr,
        }));
        if let Some(c) = &state.cluster {
            // A replica whose primary is away still starts (and serves
            // reads); it registers once the primary answers.
            if let Err(e) = c.register().await {
                tracing::warn!(error = %e, "registering this node with the cluster; will retry");
            }
            tokio::spawn(crate::presence::follow(state.clone(), presence_rx));
        }
        let router = router(state.clone());
        let stopping = tokio::sync::watch::Sender::new(false);
        let wt_task = if state.webtransport.is_some() {
            let files = match (&state.config.wt_cert, &state.config.wt_key) {
                (Some(cert), Some(key)) => Some(CertFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            };
            // UDP, on the port published in /api/realtime/config.
            let port = state.webtransport.as_ref().map_or(addr.port(), |w| w.port);
            let bind = SocketAddr::new(wt_addr.ip(), port);
            Some(webtransport::start(state.clone(), bind, files, stopping.subscribe()).await?)
        } else {
            None
        };
        Ok(App {
            wt_task,
            stopping,
            listener,
            addr,
            router,
            state,
            writer_task,
            checkpointer,
            data_lock,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then shuts down gracefully, in
    /// this order:
    ///
    /// 1. stops accepting: the listener closes (new connections are
    ///    refused) and WebTransport takes no new sessions;
    /// 2. closes every realtime connection with a close frame telling the
    ///    client to reconnect, to another node if there is one
    ///    ([`SHUTTING_DOWN`], WebSocket code 1012);
    /// 3. lets requests in flight finish and the close frames go out, for
    ///    up to [`DRAIN_TIMEOUT`];
    /// 4. stops the job workers: each kills its ffmpeg and releases its
    ///    job (queued again, lease cleared, the attempt not charged), so
    ///    that another node takes it at once;
    /// 5. flushes the writer: everything queued is committed, then it stops.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            listener,
            addr,
            router,
            state,
            writer_task,
            checkpointer,
            wt_task,
            stopping,
            data_lock,
        } = self;
        tracing::info!(%addr, "kith listening");
        let sweeper = tokio::spawn(sweep_sessions(state.clone()));
        let (workers_stop, workers_stopped) = tokio::sync::watch::channel(false);
        let mut workers = Vec::new();
        if state.tools.is_some() {
            for n in 0..state.config.workers {
                let cfg = WorkerConfig {
                    name: format!("{}-{}-{n}", std::process::id(), addr.port()),
                    kinds: job_kinds(),
                    lease: state.config.job_lease,
                    retry_base: state.config.job_retry_base,
                };
                workers.push(tokio::spawn(worker::run(
                    state.clone(),
                    cfg,
                    state.wake_workers.clone(),
                    workers_stopped.clone(),
                )));
            }
        }
        if let Some(cfg) = state.config.backup.clone() {
            // Stops at shutdown; a copy under way finishes on its thread.
            tokio::spawn(backup::schedule::run(
                state.clone(),
                cfg,
                stopping.subscribe(),
            ));
        }
        tokio::spawn(crate::admin::watch_bans(
            state.clone(),
            stopping.subscribe(),
        ));

        let mut stopped = stopping.subscribe();
        let closing = state.clone();
        // Steps 1 and 2: `serve` closes the listener, then calls this.
        let server = crate::http::serve::serve(listener, router, shutdown, move || {
            tracing::info!(
                sockets = closing.hub.connections(),
                "shutting down: no longer accepting; closing realtime connections"
            );
            stopping.send_replace(true);
            closing.hub.kick_all(SHUTTING_DOWN);
        });
        // Step 3. Live sockets are not requests: the drain waits for their
        // close frames, not for their clients to leave.
        let drained = async {
            server.await;
            state.hub.closed().await;
        };
        tokio::select! {
            () = drained => {},
            _ = async {
                let _ = stopped.wait_for(|s| *s).await;
                tokio::time::sleep(DRAIN_TIMEOUT).await;
            } => tracing::warn!("in-flight requests or realtime connections did not finish in time"),
        }
        tracing::info!("requests drained; stopping job workers");
        sweeper.abort();
        // Step 4: workers kill their ffmpeg and give their jobs back.
        workers_stop.send_replace(true);
        let workers_stopped = async {
            for w in workers {
                if tokio::time::timeout(WORKER_STOP_TIMEOUT, w).await.is_err() {
                    tracing::warn!("a worker did not stop in time");
                }
            }
        };
        // Meanwhile WebTransport closes what is left of its sessions and
        // waits for the closes to be acknowledged.
        let wt_stopped = async {
            if let Some(mut t) = wt_task
                && tokio::time::timeout(WT_STOP_TIMEOUT, &mut t).await.is_err()
            {
                t.abort();
            }
        };
        tokio::join!(workers_stopped, wt_stopped);
        if let Some(c) = &state.cluster {
            c.shutdown().await;
        }
        // Step 5.
        state.writer.stop().await;
        if let Some(task) = writer_task
            && tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
        {
            tracing::warn!("the writer did not stop in time");
        }
        drop(checkpointer);
        state.read.close().await;
        drop(data_lock);
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The kinds of job this build runs.
pub fn job_kinds() -> Kinds {
    Kinds::new(vec![Arc::new(Noop), Arc::new(VideoJob)])
}

/// Deletes expired sessions, and sign-in attempts too old to count, now
/// and then.
async fn sweep_sessions(state: AppState) {
    let mut tick = tokio::time::interval(SESSION_SWEEP_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = state.writer.run(DeleteExpiredSessions).await {
            tracing::warn!(error = %e, "sweeping expired sessions");
        }
        if let Err(e) = state.writer.run(PruneAttempts).await {
            tracing::warn!(error = %e, "sweeping old sign-in attempts");
        }
    }
}

/// The whole HTTP surface: kith's routes inside [`with_layers`].
pub fn router(state: AppState) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes::router())
        .merge(social::router())
        .merge(chat::routes::router())
        .merge(notify::router())
        .merge(realtime::routes::router())
        .merge(jobs::routes::router())
        .merge(
            media::routes::router().layer(DefaultBodyLimit::max(
                usize::try_from(state.config.max_upload_bytes)
                    .unwrap_or(usize::MAX)
                    .saturating_add(64 * 1024),
            )),
        )
        .routes(routes!(healthz))
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
    let sessions =
        SessionManagerLayer::new(WriterStore::new(state.writer.clone(), state.read.clone()))
            .with_name(if secure { "__Host-kith" } else { "kith" })
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
                    MakeRequestUuid,
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
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
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
            crate::store::nodes::primary(&state.read, name.as_deref())
                .await
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
