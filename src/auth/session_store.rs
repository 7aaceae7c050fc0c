//! A tower-sessions store that reads like tower-sessions-sqlx-store and
//! writes through the writer.
//!
//! Why not `SqliteStore` alone: it writes with its own pool, which would be
//! a second writer beside the writer task (lock contention, no group
//! commit) and could not be forwarded from a replica. Loads are plain reads
//! and go to `SqliteStore` on the read pool unchanged; the table layout and
//! encoding (MessagePack of the record) are that store's.

use async_trait::async_trait;
use sqlx::SqlitePool;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id as SessionId, Record};
use tower_sessions::session_store::{Error as StoreError, Result as StoreResult};
use tower_sessions_sqlx_store::SqliteStore;

use super::{SESSION_ADDR, SESSION_DEVICE, SESSION_KIND, SESSION_USER};
use crate::db::Writer;
use crate::store::sessions::{DeleteSession, SaveSession};
use kith_core::ids::Id;

#[derive(Clone, Debug)]
pub struct WriterStore {
    writer: Writer,
    reader: SqliteStore,
}

impl WriterStore {
    pub fn new(writer: Writer, read_pool: SqlitePool) -> Self {
        WriterStore {
            writer,
            reader: SqliteStore::new(read_pool),
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
        self.writer
            .run(cmd)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))
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
        self.reader.load(id).await
    }

    async fn delete(&self, id: &SessionId) -> StoreResult<()> {
        let cmd = DeleteSession { id: id.to_string() };
        self.writer
            .run(cmd)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))
    }
}
