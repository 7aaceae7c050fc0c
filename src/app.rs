//! Building and running the server: state, router, background tasks,
//! graceful shutdown.

mod health;
mod listen;
mod router;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use moka::future::Cache;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth::password::Passwords;
use crate::auth::session_store::SessionCache;
use crate::backup;
use crate::backup::lock::{DataDirLock, LockError};
use crate::cluster::litefs::LiteFs;
use crate::cluster::{self, Cluster, Role};
use crate::config::Config;
use crate::config::RoleChoice;
use crate::db::{self, Writer};
use crate::jobs::job::{JobKind, Kinds, Noop};
use crate::jobs::worker::{self, WorkerConfig};
use crate::limits::{self, PerUser};
use crate::media::photo::ImageJob;
use crate::media::store::MediaStore;
use crate::media::sweep::SweepJob;
use crate::media::tools::Tools;
use crate::media::transcode::VideoJob;
use crate::media::work::MediaWork;
use crate::metrics::Metrics;
use crate::realtime::Hub;
use crate::realtime::hub::SHUTTING_DOWN;
use crate::realtime::webtransport::{self, CertFiles};
use crate::realtime::wt_info::WtInfo;
pub use crate::state::DRAIN_TIMEOUT;
use crate::state::{AppState, Inner};
use crate::store::attempts::PruneAttempts;
use crate::store::sessions::DeleteExpiredSessions;
use crate::tasks::Tasks;
use kith_core::ticket::TicketKey;
pub use router::{MAX_BODY_BYTES, REQUEST_TIMEOUT, router, with_layers};
use tokio::sync::Notify;

/// How long shutdown waits for each job worker to give its job back.
const WORKER_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for WebTransport to finish closing its sessions
/// once requests have drained.
const WT_STOP_TIMEOUT: Duration = Duration::from_secs(3);
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// How long shutdown waits for the remaining background tasks once the
/// workers and WebTransport have stopped.
const TASKS_STOP_TIMEOUT: Duration = Duration::from_secs(5);

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

impl App {
    /// Opens the database, applies the schema, starts the writer and binds
    /// the listener (port 0 picks a free port; see `local_addr`).
    pub async fn build(config: Config) -> anyhow::Result<App> {
        // Bad mail settings refuse to start, rather than fail every mail
        // (a password reset, say) hours later.
        if let Some(mail) = &config.mail {
            crate::mail::MailJob::new(mail)?;
        }
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
        let reader = Arc::new(db::Reader::open(&config.db)?);
        // UDP: the HTTP address unless configured apart.
        let wt_at = match config.webtransport {
            true => Some(listen::resolve_wt(config.wt_listen.as_deref(), config.listen).await?),
            false => None,
        };
        let listen::Listeners {
            tcp: listener,
            udp: wt_socket,
        } = listen::bind(config.listen, wt_at).await?;
        let addr = listener.local_addr()?;
        let hub = Arc::new(Hub::default());
        let metrics = Arc::new(Metrics::default());
        let sessions: Arc<SessionCache> = Arc::default();
        let users = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(10))
            .build();
        let (presence_tx, presence_rx) = tokio::sync::mpsc::unbounded_channel();
        let (live_tx, live_rx) = tokio::sync::mpsc::unbounded_channel();
        let live = Arc::new(crate::live::Live::new(hub.clone()));
        let tasks = Tasks::default();
        let (writer, cluster) = match &config.cluster {
            Some(c) => {
                let host = |cluster| cluster::Host {
                    read: read.clone(),
                    reader: reader.clone(),
                    writer: local_writer.unwrap_or_else(|| {
                        Writer::remote(Arc::new(cluster::link::Forwarder(cluster)))
                    }),
                    hub: hub.clone(),
                    metrics: metrics.clone(),
                    users: users.clone(),
                    sessions: sessions.clone(),
                    http_addr: addr,
                    db_path: config.db.clone(),
                    presence: presence_tx,
                    live: live_tx,
                    tasks: tasks.clone(),
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
        let resume = kith_core::resume::ResumeKey::new(
            db::setting_or_init(&writer, &read, "resume_key", 32).await?,
        );
        let push_vapid = crate::push::vapid(&writer, &read).await?;
        let webtransport = match &wt_socket {
            Some(udp) => Some(Arc::new(WtInfo {
                port: udp.local_addr()?.port(),
                ..WtInfo::default()
            })),
            None => None,
        };
        let tools = Tools::locate(&config.ffmpeg, config.transcode_timeout);
        if tools.is_none() {
            tracing::warn!(ffmpeg = %config.ffmpeg.display(), "ffmpeg not found: no job workers on this node");
        }
        let media = MediaStore::from_spec(&config.media_store)?;
        let fanout = crate::fanout::Fanout {
            hub: hub.clone(),
            cluster: cluster.clone(),
        };
        let state = AppState(Arc::new(Inner {
            tools,
            media,
            wake_workers: Arc::new(Notify::new()),
            uploads: Arc::default(),
            hub,
            live,
            fanout,
            tickets,
            resume,
            positions: Default::default(),
            push_vapid,
            webtransport,
            users,
            post_json: Default::default(),
            sessions,
            passwords: Passwords::new()?,
            write_limits: config.limits.writes.map(PerUser::new),
            send_limits: config.limits.writes.map(|_| PerUser::new(limits::SENDS)),
            read,
            reader,
            writer,
            config,
            cluster,
            metrics,
            http_addr: addr,
            tasks,
        }));
        if let Some(c) = &state.cluster {
            // A replica whose primary is away still starts (and serves
            // reads); it registers once the primary answers.
            if let Err(e) = c.register().await {
                tracing::warn!(error = %e, "registering this node with the cluster; will retry");
            }
            state
                .tasks
                .spawn(crate::presence::follow(state.presence(), presence_rx));
        }
        state.tasks.spawn(crate::live::run(
            state.live_host(),
            live_rx,
            state.tasks.clone(),
        ));
        let router = router(state.clone());
        let wt_task = match wt_socket {
            Some(udp) => {
                let files = match (&state.config.wt_cert, &state.config.wt_key) {
                    (Some(cert), Some(key)) => Some(CertFiles {
                        cert: cert.clone(),
                        key: key.clone(),
                    }),
                    _ => None,
                };
                Some(webtransport::start(state.clone(), udp, files).await?)
            }
            None => None,
        };
        Ok(App {
            wt_task,
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
    ///    refused), and the node's one stop signal ([`Tasks::stop`]) tells
    ///    every background task to end: WebTransport takes no new sessions,
    ///    and each job worker kills its ffmpeg and releases its job (queued
    ///    again, lease cleared, the attempt not charged), so that another
    ///    node takes it at once;
    /// 2. closes every realtime connection with a close frame telling the
    ///    client to reconnect, to another node if there is one
    ///    ([`SHUTTING_DOWN`], WebSocket code 1012);
    /// 3. lets requests in flight finish and the close frames go out, for
    ///    up to [`DRAIN_TIMEOUT`];
    /// 4. waits for the workers and WebTransport, says goodbye to the
    ///    cluster, then waits for every other task;
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
            data_lock,
        } = self;
        let tasks = state.tasks.clone();
        tracing::info!(%addr, "kith listening");
        tasks.spawn(sweep_sessions(state.clone()));
        // Digests go out as mail: a node that cannot send mail leaves them
        // to one that can.
        if state.config.mail.is_some() {
            tasks.spawn(crate::push::send_digests(state.clone()));
        }
        tasks.spawn(crate::metrics::sampler::run(state.clone()));
        // Every node runs workers: images need no ffmpeg, and a node
        // without it does not take videos (job_kinds).
        let mut workers = Vec::new();
        {
            let all = job_kinds(&state);
            let quick = all.only(&QUICK_JOBS);
            let lanes = (0..state.config.workers)
                .map(|n| (format!("{n}"), all.clone()))
                .chain((0..state.config.quick_workers).map(|n| (format!("q{n}"), quick.clone())));
            for (n, kinds) in lanes {
                let cfg = WorkerConfig {
                    name: format!("{}-{}-{n}", std::process::id(), addr.port()),
                    kinds,
                    lease: state.config.job_lease,
                    retry_base: state.config.job_retry_base,
                };
                workers.push(tasks.spawn(worker::run(
                    state.writer.clone(),
                    cfg,
                    state.wake_workers.clone(),
                    tasks.clone(),
                )));
            }
        }
        tasks.spawn(crate::media::sweep::schedule(
            state.writer.clone(),
            state.wake_workers.clone(),
            tasks.clone(),
        ));
        if let Some(cfg) = state.config.backup.clone() {
            // Stops at shutdown; a copy under way finishes on its thread.
            let node = backup::schedule::Schedule {
                db: state.config.db.clone(),
                cluster: state.cluster.clone(),
                tasks: tasks.clone(),
            };
            tasks.spawn(backup::schedule::run(node, cfg));
        }
        tasks.spawn(crate::auth::ended::watch(crate::auth::ended::EndedWatch {
            read: state.read.clone(),
            hub: state.hub.clone(),
            sessions: state.sessions.clone(),
            tasks: tasks.clone(),
        }));
        tasks.spawn(crate::admin::watch_bans(crate::admin::BanWatch {
            read: state.read.clone(),
            hub: state.hub.clone(),
            users: state.users.clone(),
            tasks: tasks.clone(),
        }));

        let closing = state.clone();
        // Steps 1 and 2: `serve` closes the listener, then calls this.
        let server = crate::http::serve::serve(listener, router, shutdown, move || {
            tracing::info!(
                sockets = closing.hub.connections(),
                "shutting down: no longer accepting; closing realtime connections"
            );
            closing.tasks.stop();
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
                tasks.stopping().await;
                tokio::time::sleep(DRAIN_TIMEOUT).await;
            } => tracing::warn!("in-flight requests or realtime connections did not finish in time"),
        }
        tracing::info!("requests drained; waiting for the job workers");
        // Step 4: the workers, told to stop with everything else, kill
        // their ffmpeg and give their jobs back.
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
        // Whatever else is still running (a notification being stored, the
        // cluster's loops ending with its endpoint) ends before the writer
        // does.
        if !tasks.wait(TASKS_STOP_TIMEOUT).await {
            tracing::warn!("some background tasks did not stop in time");
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

/// Jobs that take a network round trip or a few milliseconds of work, each
/// under a deadline of seconds: the quick workers take only these, so a
/// push or a mail never waits behind a transcode on a one-worker node.
const QUICK_JOBS: [&str; 4] = [
    crate::store::push::PUSH_JOB,
    crate::store::mail::KIND,
    crate::store::links::LINK_JOB,
    crate::store::tags::TAGS_JOB,
];

/// The kinds of job this build runs, with what each uses of `state`.
pub fn job_kinds(state: &AppState) -> Kinds {
    let work = MediaWork::of(state);
    let mut kinds: Vec<Arc<dyn JobKind>> = vec![
        Arc::new(Noop),
        Arc::new(ImageJob { work: work.clone() }),
        Arc::new(SweepJob { work: work.clone() }),
        Arc::new(crate::links::LinkJob {
            writer: state.writer.clone(),
            state: state.clone(),
            allow_private: state.config.links_allow_private,
        }),
        Arc::new(crate::social::tags::TagsBackfillJob {
            writer: state.writer.clone(),
        }),
        Arc::new(crate::push::PushJob {
            state: state.clone(),
        }),
    ];
    // A node without SMTP settings leaves mail to one that has them.
    if let Some(mail) = &state.config.mail {
        // `App::build` refused settings that do not parse.
        match crate::mail::MailJob::new(mail) {
            Ok(job) => kinds.push(Arc::new(job)),
            Err(e) => tracing::error!(error = %e, "not sending mail"),
        }
    }
    // A node without ffmpeg leaves videos to one that has it.
    if let Some(tools) = state.tools.clone() {
        kinds.push(Arc::new(VideoJob {
            work,
            tools: Some(tools),
        }));
    }
    Kinds::new(kinds)
}

/// Deletes expired sessions, sign-in attempts too old to count and
/// idempotency keys past their 24 hours, now and then.
async fn sweep_sessions(state: AppState) {
    let mut tick = tokio::time::interval(SESSION_SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.tasks.stopping() => return,
        }
        if let Err(e) = state.writer.run(DeleteExpiredSessions).await {
            tracing::warn!(error = %e, "sweeping expired sessions");
        }
        if let Err(e) = state.writer.run(PruneAttempts).await {
            tracing::warn!(error = %e, "sweeping old sign-in attempts");
        }
        let prune = crate::db::keyed::PruneKeys {
            now: kith_core::ids::now_ms(),
        };
        if let Err(e) = state.writer.run(prune).await {
            tracing::warn!(error = %e, "sweeping old idempotency keys");
        }
    }
}
