//! Who the members are: the `nodes` table, this node's row in it, and the
//! members' addresses for the endpoint's lookup.

use std::collections::HashMap;
use std::sync::Arc;

use iroh::{EndpointAddr, EndpointId, TransportAddr};

use super::{Cluster, NODE_FORGET_AFTER, NODE_TTL, REGISTER_EVERY, Role};
use crate::db::reader::{ReadError, Reader};
use crate::store::nodes::{self, NodeRow, PruneNodes, UpsertNode};

/// Endpoint ids remembered by [`Cluster::endpoint_id`].
const PARSED_IDS_MAX: usize = 1024;
use kith_core::sync::Unpoisoned;

/// The primary's `nodes` row ([`nodes::PRIMARY_SQL`]), through the reader:
/// a replica asks before every write it forwards, and through the read
/// pool that hand-off to sqlx's thread was a tenth of a saturated chat
/// run's samples.
pub fn primary_row(db: &Reader, name: Option<&str>) -> Result<Option<NodeRow>, ReadError> {
    db.first(nodes::PRIMARY_SQL, [name], NodeRow::read)
}

impl Cluster {
    /// `text` as an endpoint id. Parsing one decompresses a curve point
    /// (tens of microseconds); the few ids a cluster has are parsed once
    /// and remembered, since every delivery to another node named its
    /// node by text.
    pub(crate) fn endpoint_id(&self, text: &str) -> Option<EndpointId> {
        if let Some(id) = self.parsed_ids.read_lock().get(text) {
            return Some(*id);
        }
        let id = text.parse::<EndpointId>().ok()?;
        let mut ids = self.parsed_ids.write_lock();
        // Node ids come from the `nodes` table and gossip: a handful. The
        // bound only guards against a flood of made-up ones.
        if ids.len() >= PARSED_IDS_MAX {
            ids.clear();
        }
        ids.insert(text.to_owned(), id);
        Some(id)
    }

    pub(super) fn is_member(&self, id: &EndpointId) -> bool {
        self.members.read_lock().contains(id)
    }

    pub(crate) fn admit(&self, id: EndpointId) {
        self.members.write_lock().insert(id);
    }

    /// Whether `id` may connect: a known member, or (after a fresh look at
    /// `nodes`) a registered one.
    pub(super) async fn check_member(&self, id: &EndpointId) -> bool {
        if self.is_member(id) {
            return true;
        }
        let _ = self.refresh_members().await;
        self.is_member(id)
    }

    /// Re-reads `nodes`: members, and their addresses for the lookup.
    pub(super) async fn refresh_members(&self) -> Result<Vec<NodeRow>, sqlx::Error> {
        let rows = nodes::all(&self.host.read).await?;
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(id) = self.endpoint_id(&row.endpoint_id) else {
                continue;
            };
            if id == self.id {
                continue;
            }
            let addrs = row.addrs();
            if !addrs.is_empty() {
                self.lookup.add_endpoint_info(EndpointAddr::from_parts(
                    id,
                    addrs.into_iter().map(TransportAddr::Ip),
                ));
            }
            ids.push(id);
        }
        self.members.write_lock().extend(ids);
        Ok(rows)
    }

    /// This node's `nodes` row as of now.
    pub(super) fn row(&self, now: i64) -> NodeRow {
        let addrs: Vec<String> = self.addrs().iter().map(ToString::to_string).collect();
        NodeRow {
            endpoint_id: self.id.to_string(),
            name: self.name.clone(),
            addrs: serde_json::to_string(&addrs).unwrap_or_else(|_| "[]".into()),
            role: self.role().as_str().into(),
            region: self.region.clone(),
            http_addr: self.host.http_addr.to_string(),
            started_at: self.started_at,
            heartbeat_at: now,
        }
    }

    /// Writes this node's row (through the writer: forwarded on a replica).
    pub async fn register(&self) -> Result<(), crate::store::CmdError> {
        let now = kith_core::ids::now_ms();
        self.host.writer.run(UpsertNode(self.row(now))).await?;
        Ok(())
    }

    pub(super) async fn register_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(REGISTER_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The run (`started_at`) of each peer this node asked gossip to
        // join. A peer that restarted is joined again: a SIGKILLed node
        // back within a few seconds finds the others still holding its
        // old run's connections, and its own joins at start can come to
        // nothing (seen: no neighbor for minutes, its users offline
        // everywhere else; tests/cluster/chaos.rs).
        let mut joined: HashMap<EndpointId, i64> = HashMap::new();
        while self.next_tick(&mut tick).await {
            if let Err(e) = self.register().await {
                tracing::warn!(error = %e, "refreshing this node's registration");
            }
            if let Ok(rows) = self.refresh_members().await {
                let fresh = kith_core::ids::now_ms() - 2 * NODE_TTL.as_millis() as i64;
                // With no neighbor at all, every live peer is asked again.
                let alone = self.neighbors.read_lock().is_empty();
                let new: Vec<(EndpointId, i64)> = rows
                    .iter()
                    .filter(|r| r.heartbeat_at > fresh)
                    .filter_map(|r| Some((r.endpoint_id.parse().ok()?, r.started_at)))
                    .filter(|(id, run)| *id != self.id && (alone || joined.get(id) != Some(run)))
                    .collect();
                if !new.is_empty()
                    && let Some(s) = self.sender.lock().await.as_ref()
                    && s.join_peers(new.iter().map(|(id, _)| *id).collect())
                        .await
                        .is_ok()
                {
                    joined.extend(new);
                }
            }
            if self.role() == Role::Primary {
                let before = kith_core::ids::now_ms() - NODE_FORGET_AFTER.as_millis() as i64;
                let _ = self
                    .host
                    .writer
                    .run(PruneNodes {
                        before,
                        keep: self.id.to_string(),
                    })
                    .await;
            }
        }
    }
}
