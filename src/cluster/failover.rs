//! Following LiteFS: which node is the primary, how far behind this copy
//! is, and switching roles when the lease moves.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Cluster, Role, link};

impl Cluster {
    /// How many transactions this node's copy is behind the primary's:
    /// known with LiteFS (from the primary's heartbeats), and zero on a
    /// shared database file.
    pub fn replication_lag(&self) -> Option<u64> {
        match (&self.litefs, self.role()) {
            (None, _) | (Some(_), Role::Primary) => Some(0),
            (Some(fs), Role::Replica) => {
                let primary = self.primary_position.load(Ordering::Relaxed);
                let local = fs.position()?;
                (primary > 0).then(|| primary.saturating_sub(local))
            }
        }
    }

    /// The primary's replication position from its last heartbeat, once
    /// one was heard (with LiteFS).
    pub fn primary_position(&self) -> Option<u64> {
        Some(self.primary_position.load(Ordering::Relaxed)).filter(|p| *p > 0)
    }

    /// With LiteFS: becomes the primary when the `.primary` file goes away,
    /// and a replica when it names another node.
    pub(super) async fn follow_litefs(self: Arc<Self>) {
        let Some(fs) = self.litefs.clone() else {
            return;
        };
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        while self.next_tick(&mut tick).await {
            let want = if fs.primary().is_some() {
                Role::Replica
            } else {
                Role::Primary
            };
            if want == self.role() {
                continue;
            }
            match want {
                Role::Primary => match crate::db::open_writer_connection(&self.host.db_path) {
                    Ok(conn) => {
                        let _task = self.host.writer.promote(conn);
                        self.set_role(Role::Primary);
                        tracing::info!("LiteFS made this node the primary");
                    }
                    Err(e) => tracing::error!(error = %e, "opening the database for writing"),
                },
                Role::Replica => {
                    self.set_role(Role::Replica);
                    self.host
                        .writer
                        .demote(Arc::new(link::Forwarder(Arc::downgrade(&self))))
                        .await;
                    tracing::info!(primary = ?fs.primary(), "LiteFS named another primary");
                }
            }
            let _ = self.register().await;
        }
    }
}
