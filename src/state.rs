//! The server's state: one `Arc`, cheap to clone into every handler and
//! task; what every part of a node shares (the database, the live
//! connections, the cluster, the settings).

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use sqlx::SqlitePool;
use tokio::sync::Notify;

use kith_core::ids::Id;

use crate::auth::accounts::UserView;
use crate::auth::password::Passwords;
use crate::auth::session_store::SessionCache;
use crate::cluster::{Cluster, Role};
use crate::config::Config;
use crate::db::Writer;
use crate::fanout::Fanout;
use crate::limits::PerUser;
use crate::media::partial::UploadLocks;
use crate::media::store::MediaStore;
use crate::media::tools::Tools;
use crate::metrics::Metrics;
use crate::realtime::Hub;
use crate::realtime::hub::Frame;
use crate::realtime::wt_info::WtInfo;
use crate::tasks::Tasks;
use kith_core::ticket::TicketKey;

/// How long shutdown waits for in-flight requests to finish, and for
/// realtime connections to close, before going on without them.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Shared state: one `Arc`, cheap to clone into every handler.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

pub struct Inner {
    pub config: Config,
    /// Read-only connections on the local database file (sqlx: the session
    /// store, and the reads not yet on `reader`).
    pub read: SqlitePool,
    /// Reads on the calling thread ([`crate::db::reader`]): the hot paths.
    pub reader: Arc<crate::db::Reader>,
    /// The one path for writes.
    pub writer: Writer,
    /// Signed-in users by id, for the `User` extractor. Entries live 10 s:
    /// a profile change made on another node shows within that time.
    pub users: Cache<Id, Arc<UserView>>,
    /// Posts' JSON shared between their readers while unchanged.
    pub post_json: crate::social::post_json::PostJson,
    /// Session records this node has read ([`SessionCache`]).
    pub sessions: Arc<SessionCache>,
    pub passwords: Passwords,
    /// HTTP writes per user on this node; `None`: unlimited.
    pub write_limits: Option<PerUser>,
    /// Realtime sends per user on this node, across their connections
    /// (each connection also has a budget of its own); `None`: off.
    pub send_limits: Option<PerUser>,
    /// Live connections on this node.
    pub hub: Arc<Hub>,
    /// What this node's connections watch ([`crate::live`]).
    pub live: Arc<crate::live::Live>,
    /// Signs and checks WebTransport tickets.
    pub tickets: TicketKey,
    /// Signs and checks resume tokens.
    pub resume: kith_core::resume::ResumeKey,
    /// The latest resume position, shared by this node's connections.
    pub positions: crate::chat::position::Latest,
    /// Signs Web Push requests (VAPID), the same key on every node.
    pub push_vapid: Arc<kith_core::webpush::Vapid>,
    /// WebTransport's port and certificate hashes; `None` when it is off.
    pub webtransport: Option<Arc<WtInfo>>,
    /// ffmpeg and friends; `None` when ffmpeg was not found (uploads are
    /// still taken, and their jobs wait for a node that has it).
    pub tools: Option<Tools>,
    /// Where media files live: the media dir or a bucket.
    pub media: MediaStore,
    /// Which request appends to each resumable upload on this node.
    pub uploads: Arc<UploadLocks>,
    /// Wakes an idle worker when a job is enqueued on this node.
    pub wake_workers: Arc<Notify>,
    /// The other nodes; `None` on a single node.
    pub cluster: Option<Arc<Cluster>>,
    /// Frames to users' connections on every node.
    pub fanout: Fanout,
    pub metrics: Arc<Metrics>,
    /// Where this node serves HTTP.
    pub http_addr: SocketAddr,
    /// Every background task of the node, and the one signal that stops
    /// them.
    pub tasks: Tasks,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// This node's role.
    pub fn role(&self) -> Role {
        self.cluster
            .as_ref()
            .map(|c| c.role())
            .unwrap_or(Role::Primary)
    }

    /// What presence uses of this node.
    pub fn presence(&self) -> crate::presence::Host {
        crate::presence::Host {
            read: self.read.clone(),
            fanout: self.fanout.clone(),
            tasks: self.tasks.clone(),
        }
    }

    /// Whether `user` has a live connection on any node.
    pub fn is_online(&self, user: Id) -> bool {
        self.fanout.is_online(user)
    }

    /// Whether `user` has a live connection on another node.
    pub fn remote_online(&self, user: Id) -> bool {
        self.fanout.remote_online(user)
    }

    /// Queues `frame` for every connection of `user`, on every node.
    pub async fn push(&self, user: Id, frame: &Frame) {
        self.fanout.push(user, frame).await;
    }

    /// What live content uses of this node.
    pub fn live_host(&self) -> crate::live::Host {
        crate::live::Host {
            read: self.read.clone(),
            live: self.live.clone(),
        }
    }

    /// Tells everyone watching: this node's connections at once, other
    /// nodes' over their delivery streams.
    pub async fn touch(&self, t: crate::live::Touch) {
        if let Some(c) = &self.cluster
            && let Ok(v) = serde_json::to_value(&t)
        {
            c.broadcast_live(v);
        }
        crate::live::apply(&self.live_host(), t).await;
    }

    /// [`Fanout::fan_out`].
    pub async fn fan_out(&self, users: &[Id], frame: &Frame, except: Option<u64>) -> Vec<Id> {
        self.fanout.fan_out(users, frame, except).await
    }

    /// Closes every connection of `user`, on every node (after their
    /// sessions were ended: a socket outliving its session would keep
    /// delivering to a signed-out device).
    pub async fn sign_out_everywhere(&self, user: Id) {
        // At once here; the log of ended sessions would within 250 ms.
        self.sessions.forget_user(user);
        self.hub.kick_user(user, crate::realtime::hub::SIGNED_OUT);
        if let Some(c) = &self.cluster {
            c.sign_out(user).await;
        }
    }

    /// After a ban (which ends the user's sessions in its transaction):
    /// refuses them on this node at once, and drops every node's copy of
    /// the profile. Other nodes drop the sessions when they read the log of
    /// ended sessions, and close the sockets with the reason.
    pub async fn banned(&self, user: Id) {
        self.sessions.forget_user(user);
        self.invalidate_user(user).await;
    }

    /// Drops every node's cached copy of `user` (after a profile change).
    pub async fn invalidate_user(&self, user: Id) {
        self.users.invalidate(&user).await;
        if let Some(c) = &self.cluster {
            c.invalidate(user).await;
        }
    }
}
