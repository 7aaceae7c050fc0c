//! Frames for users connected to other nodes: sent straight to the nodes
//! they are connected to, in order, over each node's delivery stream (not
//! gossip: see the module doc of [`super`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Cluster, link};
use crate::realtime::hub::Frame;
use kith_core::ids::Id;
use kith_core::sync::Unpoisoned;

impl Cluster {
    /// Whether `user` has a connection on another node.
    pub fn remote_online(&self, user: Id) -> bool {
        self.remote.write_lock().is_online(user.0)
    }

    /// Nodes this one hears from.
    pub fn peers(&self) -> Vec<String> {
        self.remote
            .write_lock()
            .nodes()
            .map(str::to_owned)
            .collect()
    }

    /// Sends `frame` to `users`' connections on other nodes: straight to
    /// the nodes they are connected to, in order, over each node's
    /// delivery stream (not gossip: see the module doc).
    pub async fn deliver(self: &Arc<Self>, users: Vec<Id>, frame: &Frame) {
        let users: Vec<i64> = users.into_iter().map(|u| u.0).collect();
        if users.is_empty() {
            return;
        }
        let targets = self.remote.write_lock().locate(&users);
        for (node, users) in targets {
            let Some(id) = self.endpoint_id(&node) else {
                continue;
            };
            let d = link::Delivery {
                users,
                frame: frame.to_string(),
                live: None,
            };
            self.host
                .metrics
                .deliveries_out
                .fetch_add(1, Ordering::Relaxed);
            if !self.links.deliver(self, id, &d) {
                tracing::warn!(node = %id.fmt_short(), "delivery queue full; frame dropped");
            }
        }
    }

    /// Sends a change of live content ([`crate::live::Touch`]) to every
    /// other node, in order with the frames it delivers.
    pub fn broadcast_live(self: &Arc<Self>, touch: serde_json::Value) {
        let nodes: Vec<String> = self.peers();
        let d = link::Delivery {
            users: Vec::new(),
            frame: String::new(),
            live: Some(touch),
        };
        for node in nodes {
            let Some(id) = self.endpoint_id(&node) else {
                continue;
            };
            if !self.links.deliver(self, id, &d) {
                tracing::warn!(node = %id.fmt_short(), "delivery queue full; live change dropped");
            }
        }
    }

    /// Frames from another node for users connected here.
    pub(crate) fn delivered(&self, d: link::Delivery) {
        self.host
            .metrics
            .deliveries_in
            .fetch_add(1, Ordering::Relaxed);
        if let Some(touch) = d.live {
            let _ = self.host.live.send(touch);
            return;
        }
        let frame: Frame = Arc::from(d.frame);
        for u in d.users {
            self.host.hub.send(Id(u), &frame, None);
        }
    }

    /// This node's presence: (seq, users), for another node's snapshot.
    pub(crate) fn snapshot(&self) -> (u64, Vec<i64>) {
        self.local.write_lock().snapshot()
    }
}
