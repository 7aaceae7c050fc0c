//! Several identical nodes on one replicated database.
//!
//! Each node has an iroh endpoint (relays and discovery off) with a secret
//! key kept in its data dir. Two protocols run on it:
//!
//! - kith's own ALPN ([`ALPN`]), for what goes to one node: a replica's
//!   forwarded writer commands, presence snapshots, and frames for users
//!   connected to that node (chat, typing, receipts, notifications), on
//!   one ordered stream per node. The first stream of every connection is a
//!   mutual proof of the cluster secret, bound to both endpoint ids;
//!   nothing else is read from a connection before it.
//! - iroh-gossip on one topic derived from the secret, for what every node
//!   needs: presence announcements and heartbeats, goodbyes, cache
//!   invalidation. A gossip connection from an endpoint that is not a
//!   member (a row of `nodes`, or a peer that proved the secret) is
//!   refused.
//!
//! Why fan-out does not ride on gossip: presence already tells each node
//! where every user is connected, so a frame can go to exactly the nodes
//! that need it, in one hop, in order. Broadcast through the gossip tree
//! measured a p99 of 21–34 ms for cross-node chat at 1,000 messages/s and
//! over 200 ms at 10,000 deliveries/s on the benchmark box, with some
//! frames never arriving; every node also had to decode every frame.
//!
//! A node registers itself in `nodes` (through the writer, so a replica's
//! row is written by the primary over a proven link) and refreshes the row
//! every [`REGISTER_EVERY`].

mod delivery;
mod failover;
mod gossip;
mod identity;
pub mod link;
pub mod litefs;
mod membership;
pub use membership::primary_row;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use anyhow::Context;
use iroh::address_lookup::MemoryLookup;
use iroh::endpoint::{PortmapperConfig, presets};
use iroh::protocol::Router;
use iroh::{Endpoint, EndpointId, RelayMode};
use iroh_gossip::api::GossipSender;
use iroh_gossip::{Gossip, TopicId};
use moka::future::Cache;
use sqlx::SqlitePool;
use tokio::sync::Mutex as AsyncMutex;
use tokio::sync::mpsc;

use crate::auth::accounts::UserView;
use crate::config::ClusterConfig;
use crate::db::Writer;
use crate::metrics::Metrics;
use crate::realtime::Hub;
use crate::tasks::Tasks;
use gossip::{GossipGate, GossipMessage};
use identity::{HELLO, Secret, WELCOME};
pub use identity::{node_key, parse_join};
use kith_core::ids::Id;
use kith_core::presence;
use kith_core::sync::Unpoisoned;
use litefs::LiteFs;

/// kith's protocol between nodes.
pub const ALPN: &[u8] = b"kith/cluster/1";
/// The largest gossip message. Every node must use the same value, so it
/// is a constant of the binary, not a setting.
pub const GOSSIP_MAX_MESSAGE: usize = 128 * 1024;
/// How often a node sends its presence heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// A node silent this long is gone, and its users offline.
pub const NODE_TTL: Duration = Duration::from_secs(8);
/// How often a node refreshes its `nodes` row and re-reads the members.
pub const REGISTER_EVERY: Duration = Duration::from_secs(5);
/// Rows not refreshed for this long are removed.
pub const NODE_FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How long a leaving node keeps its endpoint open after its goodbye.
const LEAVING_LINGER: Duration = Duration::from_millis(300);
/// Application close code for a refused connection.
const REFUSED: u32 = 403;

/// This node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        }
    }
}

/// What the cluster uses of the node it runs in; given when it starts.
pub struct Host {
    /// The node's read pool, for the `nodes` table.
    pub read: SqlitePool,
    /// The node's reader, for the primary's row on every forwarded write.
    pub reader: Arc<crate::db::reader::Reader>,
    /// The node's writer: it registers the node, serves forwarded writes on
    /// the primary, and is promoted or demoted with the LiteFS lease.
    pub writer: Writer,
    /// Live connections here, for frames other nodes deliver.
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    /// Cached profiles, dropped when another node says one changed.
    pub users: Cache<Id, Arc<UserView>>,
    /// Session records, dropped when another node signs a user out.
    pub sessions: Arc<crate::auth::session_store::SessionCache>,
    /// Where this node serves HTTP (its `nodes` row).
    pub http_addr: SocketAddr,
    /// The database file, opened for writing when this node is promoted.
    pub db_path: PathBuf,
    /// Users who came online or went offline on other nodes; the presence
    /// service tells their friends here ([`crate::presence`]).
    pub presence: mpsc::UnboundedSender<Vec<presence::Transition>>,
    /// Changes to live content other nodes publish ([`crate::live`]).
    pub live: mpsc::UnboundedSender<serde_json::Value>,
    /// The node's tasks: the cluster's loops are among them, and end when
    /// the node begins to stop.
    pub tasks: Tasks,
}

/// One node's membership in the cluster.
pub struct Cluster {
    pub id: EndpointId,
    pub name: String,
    pub region: String,
    endpoint: Endpoint,
    router: Mutex<Option<Router>>,
    lookup: MemoryLookup,
    gossip: Gossip,
    topic: TopicId,
    sender: AsyncMutex<Option<GossipSender>>,
    secret: Secret,
    /// Endpoints allowed to connect: `nodes` rows, and peers that proved
    /// the secret.
    members: RwLock<HashSet<EndpointId>>,
    local: Mutex<presence::Local>,
    remote: Mutex<presence::Remote>,
    /// The peers this node's gossip is connected to now.
    neighbors: Mutex<HashSet<EndpointId>>,
    /// Bootstrap peers from `--join`.
    join: Vec<EndpointId>,
    pub litefs: Option<LiteFs>,
    role: RwLock<Role>,
    host: Host,
    started_at: i64,
    pub(crate) links: link::Links,
    advertise: Option<SocketAddr>,
    /// The primary's replication position, from its last heartbeat.
    primary_position: AtomicU64,
    /// Endpoint ids by their text ([`Cluster::endpoint_id`]).
    parsed_ids: RwLock<HashMap<String, EndpointId>>,
    /// This run of the node (see [`Envelope::boot`]).
    boot: u64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.id.fmt_short().to_string())
            .field("name", &self.name)
            .field("role", &self.role())
            .finish()
    }
}

impl Cluster {
    /// Binds the endpoint, starts accepting cluster connections and starts
    /// the cluster's tasks: gossip, heartbeats, registration and (with
    /// LiteFS) following the primary. `host` makes what the cluster uses of
    /// the node, given the cluster itself (a replica's writer forwards
    /// through it).
    pub async fn start(
        config: &ClusterConfig,
        data_dir: &Path,
        litefs: Option<LiteFs>,
        role: Role,
        host: impl FnOnce(Weak<Cluster>) -> Host,
    ) -> anyhow::Result<Arc<Cluster>> {
        let key = node_key(data_dir)?;
        let join = config
            .join
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_join(s.trim()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let lookup = MemoryLookup::new();
        for j in &join {
            lookup.add_endpoint_info(j.clone());
        }
        let endpoint = Endpoint::builder(presets::Minimal)
            .secret_key(key)
            .relay_mode(RelayMode::Disabled)
            .clear_ip_transports()
            .bind_addr(config.listen)?
            .portmapper_config(PortmapperConfig::Disabled)
            .address_lookup(lookup.clone())
            .bind()
            .await
            .with_context(|| format!("binding the cluster endpoint on {}", config.listen))?;
        let gossip = Gossip::builder()
            .max_message_size(GOSSIP_MAX_MESSAGE)
            .spawn(endpoint.clone());
        let secret = Secret(config.secret.as_bytes().to_vec());
        let cluster = Arc::new_cyclic(|weak| Cluster {
            host: host(weak.clone()),
            id: endpoint.id(),
            name: config.name.clone(),
            region: config.region.clone(),
            topic: secret.topic(),
            secret,
            lookup,
            gossip: gossip.clone(),
            sender: AsyncMutex::new(None),
            members: RwLock::new(join.iter().map(|j| j.id).collect()),
            local: Mutex::default(),
            remote: Mutex::default(),
            neighbors: Mutex::default(),
            join: join.iter().map(|j| j.id).collect(),
            litefs,
            role: RwLock::new(role),
            started_at: kith_core::ids::now_ms(),
            links: link::Links::default(),
            advertise: config.advertise,
            primary_position: AtomicU64::new(0),
            parsed_ids: RwLock::default(),
            boot: rand::random(),
            router: Mutex::new(None),
            endpoint: endpoint.clone(),
        });
        let router = Router::builder(endpoint)
            .accept(ALPN, link::Handler(Arc::downgrade(&cluster)))
            .accept(
                iroh_gossip::ALPN,
                GossipGate {
                    cluster: Arc::downgrade(&cluster),
                    gossip,
                },
            )
            .spawn();
        *cluster.router.write_lock() = Some(router);
        tracing::info!(
            endpoint_id = %cluster.id,
            addrs = ?cluster.endpoint.bound_sockets(),
            role = role.as_str(),
            "cluster endpoint up"
        );
        let tasks = &cluster.host.tasks;
        tasks.spawn(cluster.clone().gossip_loop());
        tasks.spawn(cluster.clone().heartbeat_loop());
        tasks.spawn(cluster.clone().register_loop());
        if cluster.litefs.is_some() {
            tasks.spawn(cluster.clone().follow_litefs());
        }
        Ok(cluster)
    }

    /// What the cluster uses of this node.
    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn role(&self) -> Role {
        *self.role.read_lock()
    }

    pub(crate) fn set_role(&self, role: Role) {
        *self.role.write_lock() = role;
    }

    /// Where other nodes reach this one: the advertised address, or the
    /// endpoint's bound UDP addresses.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        match self.advertise {
            Some(a) => vec![a],
            None => self.endpoint.bound_sockets(),
        }
    }

    fn stopping(&self) -> bool {
        self.host.tasks.is_stopping()
    }

    /// Waits for the next tick of `tick`; false when the node began to
    /// stop first.
    async fn next_tick(&self, tick: &mut tokio::time::Interval) -> bool {
        tokio::select! {
            _ = tick.tick() => !self.stopping(),
            _ = self.host.tasks.stopping() => false,
        }
    }

    /// Tells the others this node is leaving, then closes the endpoint
    /// (after the node's tasks were told to stop: the gossip loop ends
    /// with the endpoint).
    pub async fn shutdown(&self) {
        // From now on this node hosts nobody, whatever its closing sockets
        // have yet to announce.
        *self.local.write_lock() = presence::Local::default();
        let _ = self.broadcast(GossipMessage::Leaving).await;
        // `broadcast` returns once gossip's actor has the message, not once
        // it is on the wire: closing the endpoint at once can drop the
        // goodbye, and the others then wait out NODE_TTL instead.
        tokio::time::sleep(LEAVING_LINGER).await;
        let router = self.router.write_lock().take();
        if let Some(r) = router
            && tokio::time::timeout(Duration::from_secs(3), r.shutdown())
                .await
                .is_err()
        {
            tracing::warn!("cluster endpoint did not close in time");
        }
    }
}
