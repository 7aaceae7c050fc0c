//! The background task that samples the console's gauges every
//! [`SAMPLE_EVERY`]: live connections, job-queue depth and replication
//! lag (and rolls the minute, [`History`](super::history::History)).

use tokio::time::MissedTickBehavior;

use super::history::{Gauges, LagTracker, SAMPLE_EVERY};
use crate::cluster::Role;
use crate::state::AppState;

/// Runs until the node begins to stop.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut lag = LagTracker::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.tasks.stopping() => return,
        }
        let queue_depth = super::queue_depth(&state.read).await.ok();
        let gauges = Gauges {
            connections: Some(state.hub.connections() as i64),
            queue_depth,
            replication_lag_ms: replication_lag_ms(&state, &mut lag),
        };
        state.metrics.history.sample(gauges);
    }
}

/// This copy's lag behind the primary, in ms: 0 on the primary and where
/// every node reads the same database file (no cluster, or a cluster on a
/// shared file); on a LiteFS replica, [`LagTracker`]'s estimate, and
/// `None` until the primary's position and this copy's are both known.
fn replication_lag_ms(state: &AppState, lag: &mut LagTracker) -> Option<i64> {
    let Some(cluster) = &state.cluster else {
        return Some(0);
    };
    match (&cluster.litefs, cluster.role()) {
        (None, _) => Some(0),
        (Some(_), Role::Primary) => {
            lag.reset();
            Some(0)
        }
        (Some(fs), Role::Replica) => {
            let primary = cluster.primary_position()?;
            let local = fs.position()?;
            Some(lag.observe(primary, local, kith_core::ids::now_ms()))
        }
    }
}
