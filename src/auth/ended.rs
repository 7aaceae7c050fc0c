//! Ends sessions on every node: drops them from the node's session cache
//! and closes their sockets.
//!
//! However a session ends (sign-out, revocation in the session list, a new
//! password, a ban, expiry, the account deleted) its `user_sessions` row
//! goes, and a trigger logs it in `session_ends` in the same transaction.
//! Every node reads that log every [`WATCH_EVERY`] and kicks the WebSocket
//! and WebTransport connections opened under those sessions. The log is
//! the one path: nothing needs to reach the other nodes, and a command
//! line or a node that dies right after the commit cannot leave a socket
//! of an ended session open.

use std::sync::Arc;
use std::time::Duration;

use kith_core::device::session_handle;
use sqlx::SqlitePool;

use super::session_store::SessionCache;
use crate::db::reader::{ReadError, Reader};
use crate::realtime::Hub;
use crate::realtime::hub::{BANNED, SIGNED_OUT};
use crate::tasks::Tasks;

/// Whether session `id` (as its cookie carries it) was ended by a ban of
/// its account, within the hour the log keeps.
pub fn ended_by_ban(db: &Reader, id: &str) -> Result<bool, ReadError> {
    let found = db.first(
        "SELECT 1 FROM session_ends e JOIN users u ON u.id = e.user_id
         WHERE e.session_id = ?1 AND u.banned_at IS NOT NULL LIMIT 1",
        [id],
        |_| Ok(()),
    )?;
    Ok(found.is_some())
}

/// How often every node reads the log: a revoked session's sockets close
/// within this plus a replica's replication delay. One indexed read of
/// the log's tail, four times a second, is nothing next to the traffic of
/// a node.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Log entries handled per read; more wait for the next.
const BATCH: i64 = 1000;

/// What the watcher uses of a node.
pub struct EndedWatch {
    pub read: SqlitePool,
    pub hub: Arc<Hub>,
    /// The node's session records, which an ended session leaves.
    pub sessions: Arc<SessionCache>,
    pub tasks: Tasks,
}

/// Runs until the node stops.
pub async fn watch(state: EndedWatch) {
    // Sessions that ended before this node started had no sockets here.
    let mut last: i64 = match sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM session_ends")
        .fetch_one(&state.read)
        .await
    {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "reading the log of ended sessions");
            0
        }
    };
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.tasks.stopping() => return,
        }
        // A ban ends sessions too: its sockets are told why.
        let rows: Vec<(i64, String, bool)> = match sqlx::query_as(
            "SELECT e.seq, e.session_id, coalesce(u.banned_at IS NOT NULL, 0)
             FROM session_ends e LEFT JOIN users u ON u.id = e.user_id
             WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
        )
        .bind(last)
        .bind(BATCH)
        .fetch_all(&state.read)
        .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading the log of ended sessions");
                continue;
            }
        };
        for (seq, session, banned) in rows {
            last = seq;
            // First, so that the session stops working on this node within
            // a read of the log (250 ms plus replication), sockets or not.
            state.sessions.forget(&session).await;
            let why = if banned { BANNED } else { SIGNED_OUT };
            let kicked = state.hub.kick_session(session_handle(&session), why);
            if kicked > 0 {
                tracing::debug!(kicked, "closed the sockets of an ended session");
            }
        }
    }
}
