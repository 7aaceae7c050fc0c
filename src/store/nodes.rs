//! The `nodes` table: who the members of a cluster are and where to reach
//! them.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use super::{CmdError, Command};

/// A member row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct NodeRow {
    pub endpoint_id: String,
    pub name: String,
    /// JSON array of socket addresses.
    pub addrs: String,
    pub role: String,
    pub region: String,
    pub http_addr: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
}

impl NodeRow {
    pub fn addrs(&self) -> Vec<std::net::SocketAddr> {
        serde_json::from_str::<Vec<String>>(&self.addrs)
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }
}

/// Registers a node or refreshes its row (its heartbeat).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpsertNode(pub NodeRow);

impl Command for UpsertNode {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let n = self.0;
        conn.prepare_cached(
            "INSERT INTO nodes (endpoint_id, name, addrs, role, region, http_addr,
                                started_at, heartbeat_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (endpoint_id) DO UPDATE SET
                name = excluded.name, addrs = excluded.addrs, role = excluded.role,
                region = excluded.region, http_addr = excluded.http_addr,
                started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
        )?
        .execute(rusqlite::params![
            n.endpoint_id,
            n.name,
            n.addrs,
            n.role,
            n.region,
            n.http_addr,
            n.started_at,
            n.heartbeat_at
        ])?;
        Ok(())
    }
}

/// Removes rows not refreshed since `before` (ms), other than `keep`;
/// answers whether any went.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PruneNodes {
    pub before: i64,
    pub keep: String,
}

impl Command for PruneNodes {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        let n = conn
            .prepare_cached("DELETE FROM nodes WHERE heartbeat_at < ? AND endpoint_id <> ?")?
            .execute(rusqlite::params![self.before, self.keep])?;
        Ok(n > 0)
    }
}

pub async fn all(pool: &SqlitePool) -> Result<Vec<NodeRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM nodes ORDER BY heartbeat_at DESC")
        .fetch_all(pool)
        .await
}

pub async fn by_id(pool: &SqlitePool, id: &str) -> Result<Option<NodeRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM nodes WHERE endpoint_id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The primary: the freshest row named `?1` (LiteFS names it), or else,
/// with `?1` null, the freshest row whose role is primary.
pub const PRIMARY_SQL: &str = "SELECT endpoint_id, name, addrs, role, region, http_addr, \
     started_at, heartbeat_at FROM nodes \
     WHERE (?1 IS NULL AND role = 'primary') OR name = ?1 \
     ORDER BY heartbeat_at DESC LIMIT 1";

impl NodeRow {
    /// A row of [`PRIMARY_SQL`] (its columns in that order) read through
    /// libsql.
    pub fn read(r: &libsql::Row) -> libsql::Result<NodeRow> {
        Ok(NodeRow {
            endpoint_id: r.get(0)?,
            name: r.get(1)?,
            addrs: r.get(2)?,
            role: r.get(3)?,
            region: r.get(4)?,
            http_addr: r.get(5)?,
            started_at: r.get(6)?,
            heartbeat_at: r.get(7)?,
        })
    }
}
