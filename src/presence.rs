//! Presence: who among a user's friends is online, told to them as it
//! changes. Every rule of it is here; the transports only report that a
//! user's connection opened or closed, and the cluster only reports users
//! who came or went on other nodes.
//!
//! A user is online while they have a connection on any node. Friends are
//! told when the first connection anywhere opens, and when the last one
//! closes and stays closed for [`OFFLINE_GRACE`].

use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::mpsc;

use crate::fanout::Fanout;
use crate::realtime::hub::Frame;
use crate::tasks::Tasks;
use kith_core::ids::Id;
use kith_core::presence::Transition;
use kith_core::protocol::{Presence, ServerFrame};

/// How long a user must stay disconnected everywhere before friends are
/// told they went offline: a reload or a hop to another node shows no
/// flicker, and announcements from different nodes may arrive in any order.
pub const OFFLINE_GRACE: Duration = Duration::from_secs(1);

/// What presence uses of its node. Cheap to clone.
#[derive(Clone)]
pub struct Host {
    /// Who a user's friends are.
    pub read: SqlitePool,
    /// Who is online where, and the frames that tell it.
    pub fanout: Fanout,
    /// The offline grace runs as one of the node's tasks.
    pub tasks: Tasks,
}

/// A connection of `user` opened on this node (`first`: their first
/// here). Tells their friends here when nobody anywhere had them yet, and
/// answers the presence frames of the friends who are online, for the new
/// connection's greeting.
pub async fn connected(state: &Host, user: Id, name: &str, first: bool) -> Vec<Frame> {
    // Friends see this user come online only if no other node already had
    // them.
    let newly_online = first && !state.fanout.remote_online(user);
    if first && let Some(c) = &state.fanout.cluster {
        c.announce(user, true).await;
    }
    let friends = match friends(state, user).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "reading friends for presence");
            return vec![];
        }
    };
    let online = ServerFrame::Presence {
        user: name.to_owned(),
        status: Presence::Online,
    }
    .encode();
    let mut greeting = Vec::new();
    for (id, friend) in friends {
        if newly_online {
            state.fanout.hub.send(id, &online, None);
        }
        if state.fanout.is_online(id) {
            greeting.push(
                ServerFrame::Presence {
                    user: friend,
                    status: Presence::Online,
                }
                .encode(),
            );
        }
    }
    greeting
}

/// The last connection of `user` on this node closed.
pub async fn disconnected(state: &Host, user: Id, name: String) {
    if let Some(c) = &state.fanout.cluster {
        c.announce(user, false).await;
    }
    went_offline(state, user, name);
}

/// Tells local friends of users whose presence on other nodes changed, as
/// the cluster reports them, until the node stops.
pub async fn follow(state: Host, mut changes: mpsc::UnboundedReceiver<Vec<Transition>>) {
    loop {
        let transitions = tokio::select! {
            t = changes.recv() => t,
            _ = state.tasks.stopping() => None,
        };
        let Some(transitions) = transitions else {
            return;
        };
        changed_elsewhere(&state, transitions).await;
    }
}

async fn changed_elsewhere(state: &Host, transitions: Vec<Transition>) {
    for t in transitions {
        let user = Id(t.user);
        if state.fanout.hub.is_online(user) {
            // Still connected here: nothing visible changed.
            continue;
        }
        let Ok(Some(name)) =
            sqlx::query_scalar::<_, String>("SELECT username FROM users WHERE id = ?")
                .bind(user.0)
                .fetch_optional(&state.read)
                .await
        else {
            continue;
        };
        if t.online {
            tell_friends(state, user, name, Presence::Online).await;
        } else {
            went_offline(state, user, name);
        }
    }
}

/// Tells the user's friends connected to this node that the user is now
/// online or offline.
async fn tell_friends(state: &Host, user: Id, name: String, status: Presence) {
    let frame = ServerFrame::Presence { user: name, status }.encode();
    match friends(state, user).await {
        Ok(friends) => {
            for (id, _) in friends {
                state.fanout.hub.send(id, &frame, None);
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading friends for presence"),
    }
}

/// The user has no connection left on this node, or their last other node
/// went away: after [`OFFLINE_GRACE`], if they are still offline
/// everywhere, their friends here are told.
fn went_offline(state: &Host, user: Id, name: String) {
    let task = state.clone();
    state.tasks.spawn(async move {
        let state = task;
        tokio::time::sleep(OFFLINE_GRACE).await;
        if !state.fanout.is_online(user) {
            tell_friends(&state, user, name, Presence::Offline).await;
        }
    });
}

/// (id, username) of the user's friends.
async fn friends(state: &Host, user: Id) -> Result<Vec<(Id, String)>, sqlx::Error> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT u.id, u.username FROM friendships f JOIN users u ON u.id = f.friend_id
         WHERE f.user_id = ?",
    )
    .bind(user.0)
    .fetch_all(&state.read)
    .await?;
    Ok(rows.into_iter().map(|(id, name)| (Id(id), name)).collect())
}
