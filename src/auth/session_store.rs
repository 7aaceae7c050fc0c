//! A tower-sessions store that reads like tower-sessions-sqlx-store and
//! writes through the writer.
//!
//! Why not `SqliteStore` alone: it writes with its own pool, which would be
//! a second writer beside the writer task (lock contention, no group
//! commit) and could not be forwarded from a replica. Loads are plain reads
//! and go to `SqliteStore` on the read pool unchanged; the table layout and
//! encoding (MessagePack of the record) are that store's.
//!
//! Loads are answered from memory ([`SessionCache`]) once a node has read
//! a session, so that in the steady state a request touches SQLite for its
//! data only: the session row was one query per request, a fifth of a feed
//! read's database time. A session that ends anywhere leaves every node's
//! cache through the log of ended sessions ([`crate::auth::ended`]), read
//! four times a second on every node.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use moka::future::Cache;
use sqlx::SqlitePool;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id as SessionId, Record};
use tower_sessions::session_store::{Error as StoreError, Result as StoreResult};
use tower_sessions_sqlx_store::SqliteStore;

use super::{SESSION_ADDR, SESSION_DEVICE, SESSION_KIND, SESSION_USER};
use crate::db::Writer;
use crate::store::sessions::{DeleteSession, SaveSession};
use kith_core::ids::Id;

/// Sessions this node has read, by id.
///
/// Bounded by count and by idleness: 100,000 records of about 200 bytes
/// are 20 MB at most, and a session unused for 15 minutes is read again
/// from SQLite when it comes back. What a record holds besides its user
/// (last seen, coarse address) may be up to an hour old on another node by
/// design (`crate::auth::extract`), so only a session's end must reach
/// every cache, and [`SessionCache::forget`] is how.
pub struct SessionCache {
    records: Cache<SessionId, Arc<Record>>,
    /// Counts the sessions forgotten: a load that read a record from SQLite
    /// while the record's session ended keeps it out of the cache.
    forgotten: AtomicU64,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache {
            records: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(15 * 60))
                .support_invalidation_closures()
                .build(),
            forgotten: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("records", &self.records.entry_count())
            .finish()
    }
}

impl SessionCache {
    /// Drops a session that ended (its id as stored).
    pub async fn forget(&self, id: &str) {
        if let Ok(id) = id.parse::<SessionId>() {
            self.records.invalidate(&id).await;
        }
        // After the invalidation: a load that began before it sees the
        // count move and does not put the record back.
        self.forgotten.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops every session of `user` (signed out everywhere, or all but
    /// one: the one kept is read again from SQLite). Sooner than the log,
    /// which still brings each ended session's id.
    pub fn forget_user(&self, user: Id) {
        let user = user.0;
        let r = self.records.invalidate_entries_if(move |_, record| {
            record.data.get(SESSION_USER).and_then(|v| v.as_i64()) == Some(user)
        });
        if let Err(e) = r {
            // Only when the cache was built without closures: then every
            // entry goes, which is never wrong.
            tracing::warn!(error = %e, "dropping a user's sessions");
            self.records.invalidate_all();
        }
        self.forgotten.fetch_add(1, Ordering::AcqRel);
    }

    async fn get(&self, id: &SessionId) -> Option<Arc<Record>> {
        self.records.get(id).await
    }
}

#[derive(Clone, Debug)]
pub struct WriterStore {
    writer: Writer,
    reader: SqliteStore,
    cache: Arc<SessionCache>,
}

impl WriterStore {
    pub fn new(writer: Writer, read_pool: SqlitePool, cache: Arc<SessionCache>) -> Self {
        WriterStore {
            writer,
            reader: SqliteStore::new(read_pool),
            cache,
        }
    }

    async fn put(&self, record: &Record, create: bool) -> StoreResult<bool> {
        let data = rmp_serde::to_vec(record).map_err(|e| StoreError::Encode(e.to_string()))?;
        let user_id = record
            .data
            .get(SESSION_USER)
            .and_then(|v| v.as_i64())
            .map(Id);
        let text = |key: &str| {
            record
                .data
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let cmd = SaveSession {
            id: record.id.to_string(),
            data,
            expiry_unix: record.expiry_date.unix_timestamp(),
            user_id,
            create,
            kind: text(SESSION_KIND),
            device: text(SESSION_DEVICE),
            address: text(SESSION_ADDR),
        };
        let stored = self
            .writer
            .run(cmd)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        if stored {
            self.cache
                .records
                .insert(record.id, Arc::new(record.clone()))
                .await;
        }
        Ok(stored)
    }
}

#[async_trait]
impl SessionStore for WriterStore {
    async fn create(&self, record: &mut Record) -> StoreResult<()> {
        // 128 random bits: a collision is all but impossible, but the
        // contract is to pick another id if it happens.
        for _ in 0..8 {
            if self.put(record, true).await? {
                return Ok(());
            }
            record.id = SessionId::default();
        }
        Err(StoreError::Backend(
            "could not allocate a session id".into(),
        ))
    }

    async fn save(&self, record: &Record) -> StoreResult<()> {
        self.put(record, false).await.map(|_| ())
    }

    async fn load(&self, id: &SessionId) -> StoreResult<Option<Record>> {
        if let Some(record) = self.cache.get(id).await {
            // Expiry as SqliteStore's load applies it.
            if record.expiry_date > time::OffsetDateTime::now_utc() {
                return Ok(Some((*record).clone()));
            }
            self.cache.records.invalidate(id).await;
            return Ok(None);
        }
        let forgotten = self.cache.forgotten.load(Ordering::Acquire);
        let record = self.reader.load(id).await?;
        if let Some(r) = &record {
            self.cache.records.insert(*id, Arc::new(r.clone())).await;
            // A session that ended while it was read may have been put back
            // after the log's reader dropped it: drop it again.
            if self.cache.forgotten.load(Ordering::Acquire) != forgotten {
                self.cache.records.invalidate(id).await;
            }
        }
        Ok(record)
    }

    async fn delete(&self, id: &SessionId) -> StoreResult<()> {
        let cmd = DeleteSession { id: id.to_string() };
        let done = self
            .writer
            .run(cmd)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()));
        // Whether or not the write went through: the next load asks SQLite.
        self.cache.records.invalidate(id).await;
        done
    }
}
