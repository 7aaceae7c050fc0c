//! Frames to users' live connections, wherever they are connected: this
//! node's through the hub, other nodes' through the cluster, one delivery
//! per node however many of its users a frame is for. The one way a frame
//! reaches users; [`crate::state::AppState::push`] and the chat connections
//! use it.

use std::sync::Arc;

use kith_core::ids::Id;

use crate::cluster::Cluster;
use crate::realtime::Hub;
use crate::realtime::hub::Frame;

/// Cheap to clone.
#[derive(Clone)]
pub struct Fanout {
    pub hub: Arc<Hub>,
    /// `None` on a single node.
    pub cluster: Option<Arc<Cluster>>,
}

impl Fanout {
    /// Whether `user` has a live connection on any node.
    pub fn is_online(&self, user: Id) -> bool {
        self.hub.is_online(user) || self.remote_online(user)
    }

    /// Whether `user` has a live connection on another node.
    pub fn remote_online(&self, user: Id) -> bool {
        self.cluster.as_ref().is_some_and(|c| c.remote_online(user))
    }

    /// Queues `frame` for every connection of `user`, on every node.
    pub async fn push(&self, user: Id, frame: &Frame) {
        self.fan_out(&[user], frame, None).await;
    }

    /// Queues `frame` for every connection of `users`, on every node, but
    /// connection `except` of this node (the sender's own); answers the
    /// users connected nowhere, who may be told another way. Other nodes
    /// get one delivery each, however many of their users it is for.
    pub async fn fan_out(&self, users: &[Id], frame: &Frame, except: Option<u64>) -> Vec<Id> {
        let mut nowhere = Vec::new();
        let mut elsewhere = Vec::new();
        for &user in users {
            let remote = self.remote_online(user);
            if remote {
                elsewhere.push(user);
            }
            if self.hub.is_online(user) {
                self.hub.send(user, frame, except);
            } else if !remote {
                nowhere.push(user);
            }
        }
        if let Some(c) = &self.cluster {
            c.deliver(elsewhere, frame).await;
        }
        nowhere
    }
}
