//! The gossip topic: presence announcements and heartbeats, goodbyes and
//! cache invalidation, to every node; and the gate that admits only
//! members to it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use iroh::EndpointId;
use iroh::endpoint::{Connection, VarInt};
use iroh::protocol::{AcceptError, ProtocolHandler};
use iroh_gossip::Gossip;
use iroh_gossip::api::Event;
use serde::{Deserialize, Serialize};

use super::{Cluster, GOSSIP_MAX_MESSAGE, HEARTBEAT_EVERY, NODE_TTL, REFUSED, Role, link};
use kith_core::ids::Id;
use kith_core::presence;
use kith_core::sync::Unpoisoned;

/// What travels on the gossip topic.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Envelope {
    /// Unique per message: gossip drops identical payloads.
    pub(super) id: u64,
    /// The endpoint id of the node that sent it.
    pub(super) from: String,
    /// Which run of that node (random per start): a node that said
    /// goodbye is not brought back by its own late messages, but is
    /// welcome again once restarted.
    #[serde(default)]
    pub(super) boot: u64,
    pub(super) msg: GossipMessage,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "t")]
pub(super) enum GossipMessage {
    /// A user's first connection on `from` opened, or their last closed.
    Presence { seq: u64, user: i64, online: bool },
    /// `from`'s presence summary; also its liveness. The primary adds its
    /// replication position, so replicas know their lag.
    Heartbeat {
        seq: u64,
        count: u64,
        digest: u64,
        #[serde(default)]
        primary_position: Option<u64>,
    },
    /// `from` is shutting down: its users are offline now.
    Leaving,
    /// A user's profile changed: drop cached copies.
    Invalidate { user: i64 },
    /// Every session of a user was ended: close their connections.
    SignedOut { user: i64 },
}

impl Cluster {
    /// Announces a change of this node's presence for `user`.
    pub async fn announce(&self, user: Id, online: bool) {
        let user = user.0;
        let seq = self.local.write_lock().set(user, online);
        if let Some(seq) = seq {
            let _ = self
                .broadcast(GossipMessage::Presence { seq, user, online })
                .await;
        }
    }

    /// Tells the other nodes to drop their cached copy of `user`.
    pub async fn invalidate(&self, user: Id) {
        let user = user.0;
        let _ = self.broadcast(GossipMessage::Invalidate { user }).await;
    }

    /// Tells the other nodes to close `user`'s connections.
    pub async fn sign_out(&self, user: Id) {
        let user = user.0;
        let _ = self.broadcast(GossipMessage::SignedOut { user }).await;
    }

    pub(super) async fn broadcast(&self, msg: GossipMessage) -> anyhow::Result<()> {
        let env = Envelope {
            id: rand::random(),
            from: self.id.to_string(),
            boot: self.boot,
            msg,
        };
        let bytes = serde_json::to_vec(&env)?;
        // iroh-gossip silently drops (and stalls on) messages near the limit.
        if bytes.len() > GOSSIP_MAX_MESSAGE - 256 {
            anyhow::bail!("gossip message of {} bytes is too large", bytes.len());
        }
        let sender = self.sender.lock().await;
        if let Some(s) = sender.as_ref() {
            s.broadcast(Bytes::from(bytes)).await?;
            self.host.metrics.gossip_out.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Members to bootstrap gossip from: `--join` and `nodes` rows.
    pub(super) fn bootstrap(&self) -> Vec<EndpointId> {
        let members = self.members.read_lock();
        members
            .iter()
            .chain(self.join.iter())
            .filter(|id| **id != self.id)
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect()
    }

    pub(super) async fn gossip_loop(self: Arc<Self>) {
        while !self.stopping() {
            let _ = self.refresh_members().await;
            let peers = self.bootstrap();
            let topic = match self.gossip.subscribe(self.topic, peers).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "subscribing to the cluster topic");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let (sender, mut receiver) = topic.split();
            *self.sender.lock().await = Some(sender);
            // Whatever was missed while (re)subscribing is repaired by
            // snapshots.
            self.remote.write_lock().mark_all_stale();
            while let Some(event) = receiver.next().await {
                match event {
                    Ok(Event::Received(m)) => {
                        self.host.metrics.gossip_in.fetch_add(1, Ordering::Relaxed);
                        match serde_json::from_slice::<Envelope>(&m.content) {
                            Ok(env) => self.on_gossip(env).await,
                            Err(e) => tracing::warn!(error = %e, "undecodable gossip message"),
                        }
                    }
                    Ok(Event::Lagged) => {
                        tracing::warn!("gossip subscriber lagged; resubscribing");
                        break;
                    }
                    Ok(Event::NeighborUp(id)) => {
                        tracing::debug!(peer = %id.fmt_short(), "gossip neighbor up");
                        self.neighbors.write_lock().insert(id);
                    }
                    Ok(Event::NeighborDown(id)) => {
                        tracing::debug!(peer = %id.fmt_short(), "gossip neighbor down");
                        self.neighbors.write_lock().remove(&id);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "gossip subscription failed; resubscribing");
                        break;
                    }
                }
            }
            *self.sender.lock().await = None;
            self.neighbors.write_lock().clear();
            if !self.stopping() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    pub(super) async fn on_gossip(self: &Arc<Self>, env: Envelope) {
        if env.from == self.id.to_string() {
            return;
        }
        let now = Instant::now();
        if self.remote.write_lock().has_left(&env.from, env.boot) {
            // A message sent before its goodbye, arriving after it.
            return;
        }
        let transitions = match env.msg {
            GossipMessage::Presence { seq, user, online } => self
                .remote
                .write_lock()
                .announce(&env.from, seq, user, online, now),
            GossipMessage::Heartbeat {
                seq,
                count,
                digest,
                primary_position,
            } => {
                if let Some(p) = primary_position {
                    self.primary_position.store(p, Ordering::Relaxed);
                }
                let stale = self
                    .remote
                    .write_lock()
                    .heartbeat(&env.from, seq, count, digest, now);
                if stale {
                    self.resync(&env.from);
                }
                vec![]
            }
            GossipMessage::Leaving => self.remote.write_lock().leave(&env.from, env.boot),
            GossipMessage::Invalidate { user } => {
                self.host.users.invalidate(&Id(user)).await;
                vec![]
            }
            GossipMessage::SignedOut { user } => {
                self.host.sessions.forget_user(Id(user));
                self.host
                    .hub
                    .kick_user(Id(user), crate::realtime::hub::SIGNED_OUT);
                vec![]
            }
        };
        self.presence_changed(transitions);
    }

    /// Hands users whose presence on other nodes changed to the presence
    /// service.
    pub(super) fn presence_changed(&self, transitions: Vec<presence::Transition>) {
        if !transitions.is_empty() {
            // Closed only once the node is stopping.
            let _ = self.host.presence.send(transitions);
        }
    }

    /// Fetches a node's presence set over a direct link, in the background.
    pub(super) fn resync(self: &Arc<Self>, node: &str) {
        let cluster = self.clone();
        let Some(id) = self.endpoint_id(node) else {
            return;
        };
        let node = node.to_owned();
        self.host.tasks.spawn(async move {
            match cluster.links.presence(&cluster, id).await {
                Ok((seq, users)) => {
                    let t = {
                        let mut remote = cluster.remote.write_lock();
                        if remote.has_left_any(&node) {
                            return;
                        }
                        remote.replace(&node, seq, &users, Instant::now())
                    };
                    cluster.presence_changed(t);
                }
                Err(e) => tracing::debug!(error = %e, node = %node, "presence snapshot failed"),
            }
        });
    }

    pub(super) async fn heartbeat_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while self.next_tick(&mut tick).await {
            let (seq, count, digest) = self.local.write_lock().summary();
            let primary_position = match self.role() {
                Role::Primary => self.litefs.as_ref().and_then(|fs| fs.position()),
                Role::Replica => None,
            };
            let _ = self
                .broadcast(GossipMessage::Heartbeat {
                    seq,
                    count,
                    digest,
                    primary_position,
                })
                .await;
            let cutoff = Instant::now().checked_sub(NODE_TTL);
            let (gone, stale) = {
                let mut remote = self.remote.write_lock();
                let gone = cutoff.map(|c| remote.expire(c)).unwrap_or_default();
                (gone, remote.stale())
            };
            self.presence_changed(gone);
            for node in stale {
                self.resync(&node);
            }
        }
    }
}

/// iroh-gossip behind the membership check.
#[derive(Debug, Clone)]
pub(super) struct GossipGate {
    pub(super) cluster: std::sync::Weak<Cluster>,
    pub(super) gossip: Gossip,
}

impl ProtocolHandler for GossipGate {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let remote = conn.remote_id();
        let allowed = match self.cluster.upgrade() {
            Some(c) => c.check_member(&remote).await,
            None => false,
        };
        if !allowed {
            tracing::warn!(peer = %remote, "refused gossip from a non-member");
            conn.close(VarInt::from_u32(REFUSED), b"not a member of this cluster");
            return Err(AcceptError::from_err(link::Refused));
        }
        ProtocolHandler::accept(&self.gossip, conn).await
    }

    async fn shutdown(&self) {
        ProtocolHandler::shutdown(&self.gossip).await
    }
}
