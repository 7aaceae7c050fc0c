//! The bytes of an unfinished resumable upload, in the media store, where
//! every node finds them: the shared media dir (`uploads/{id}.part`, one
//! file grown in place), or the bucket (`partial/{id}/{offset}`, one
//! object per stretch received, zero-padded so that names sort by offset).
//!
//! What is stored is the truth about the offset: bytes written to the file
//! survive the process being killed (they are in the page cache), and a
//! bucket part exists whole or not at all. A `PATCH` cut off half-way keeps
//! what arrived; the client asks (`HEAD`) and sends the rest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;

use super::store::MediaStore;
use kith_core::ids::Id;
use kith_core::sync::Unpoisoned;

/// A bucket part is put once this much has arrived (and at the end of a
/// request): a dropped connection loses at most this much, and the
/// request holds at most this much in memory.
const BUCKET_PART: usize = 8 * 1024 * 1024;

fn part_path(dir: &Path, id: Id) -> PathBuf {
    dir.join("uploads").join(format!("{id}.part"))
}

fn part_prefix(prefix: &str, id: Id) -> Key {
    if prefix.is_empty() {
        Key::from(format!("partial/{id}"))
    } else {
        Key::from(format!("{prefix}/partial/{id}"))
    }
}

/// Why an append stopped early.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The stored offset is not the one the client named.
    #[error("the upload is at offset {0}")]
    Offset(u64),
    /// More bytes than the declared length.
    #[error("more bytes than the upload's length")]
    TooLong,
    /// The client's body failed (it disconnected or stalled); what arrived
    /// before is kept.
    #[error("{0}")]
    Body(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<std::io::Error> for AppendError {
    fn from(e: std::io::Error) -> Self {
        AppendError::Store(e.into())
    }
}

/// What an append did: the offset reached, and why it stopped if it did.
pub struct Appended {
    pub offset: u64,
    pub error: Option<AppendError>,
}

impl Appended {
    fn failed(offset: u64, error: AppendError) -> Appended {
        Appended {
            offset,
            error: Some(error),
        }
    }
}

impl MediaStore {
    /// Starts an empty partial upload.
    pub async fn create_partial(&self, dir: &Path, id: Id) -> anyhow::Result<()> {
        match self {
            MediaStore::Local => {
                tokio::fs::create_dir_all(dir.join("uploads")).await?;
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(false)
                    .open(part_path(dir, id))
                    .await?;
                Ok(())
            }
            // A bucket needs no object to start.
            MediaStore::Bucket { .. } => Ok(()),
        }
    }

    /// How many bytes are stored, or `None` when the partial upload is gone.
    pub async fn partial_offset(&self, dir: &Path, id: Id) -> anyhow::Result<Option<u64>> {
        match self {
            MediaStore::Local => match tokio::fs::metadata(part_path(dir, id)).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
            MediaStore::Bucket { store, prefix, .. } => {
                Ok(Some(contiguous(&bucket_parts(store, prefix, id).await?)))
            }
        }
    }

    /// Appends `body` at `offset` (which must be the stored offset), at
    /// most up to `length` in all.
    pub async fn append_partial<S, E>(
        &self,
        dir: &Path,
        id: Id,
        offset: u64,
        length: u64,
        body: S,
    ) -> Appended
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        match self {
            MediaStore::Local => append_local(dir, id, offset, length, body).await,
            MediaStore::Bucket { store, prefix, .. } => {
                append_bucket(store, prefix, id, offset, length, body).await
            }
        }
    }

    /// The whole upload as the local file `uploads/{id}` (where a simple
    /// upload is spooled), the partial upload removed.
    pub async fn assemble_partial(&self, dir: &Path, id: Id) -> anyhow::Result<PathBuf> {
        let out = super::upload_path(dir, id);
        match self {
            MediaStore::Local => {
                tokio::fs::rename(part_path(dir, id), &out).await?;
            }
            MediaStore::Bucket { store, prefix, .. } => {
                tokio::fs::create_dir_all(dir.join("uploads")).await?;
                let parts = bucket_parts(store, prefix, id).await?;
                let mut f = tokio::fs::File::create(&out).await?;
                for (_, key, _) in &parts {
                    let mut stream = store.get(key).await?.into_stream();
                    while let Some(chunk) = stream.try_next().await? {
                        f.write_all(&chunk).await?;
                    }
                }
                f.flush().await?;
                self.remove_partial(dir, id).await?;
            }
        }
        Ok(out)
    }

    /// Deletes a partial upload's bytes (those that exist).
    pub async fn remove_partial(&self, dir: &Path, id: Id) -> anyhow::Result<()> {
        match self {
            MediaStore::Local => match tokio::fs::remove_file(part_path(dir, id)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            MediaStore::Bucket { store, prefix, .. } => {
                for (_, key, _) in bucket_parts(store, prefix, id).await? {
                    match store.delete(&key).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(())
            }
        }
    }
}

async fn append_local<S, E>(dir: &Path, id: Id, offset: u64, length: u64, mut body: S) -> Appended
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let path = part_path(dir, id);
    let opened = async {
        let mut f = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await?;
        let stored = f.metadata().await?.len();
        Ok::<_, std::io::Error>((
            f.seek(std::io::SeekFrom::Start(stored)).await.map(|_| f)?,
            stored,
        ))
    };
    let (mut f, stored) = match opened.await {
        Ok(v) => v,
        Err(e) => return Appended::failed(offset, e.into()),
    };
    if stored != offset {
        return Appended::failed(stored, AppendError::Offset(stored));
    }
    let mut at = offset;
    let error = loop {
        match body.next().await {
            None => break None,
            Some(Err(e)) => break Some(AppendError::Body(e.to_string())),
            Some(Ok(chunk)) => {
                let room = length - at;
                let take = (chunk.len() as u64).min(room) as usize;
                if let Err(e) = f.write_all(&chunk[..take]).await {
                    break Some(e.into());
                }
                at += take as u64;
                if take < chunk.len() {
                    break Some(AppendError::TooLong);
                }
            }
        }
    };
    if let Err(e) = f.flush().await {
        return Appended {
            offset: at,
            error: Some(e.into()),
        };
    }
    Appended { offset: at, error }
}

async fn append_bucket<S, E>(
    store: &std::sync::Arc<dyn ObjectStore>,
    prefix: &str,
    id: Id,
    offset: u64,
    length: u64,
    mut body: S,
) -> Appended
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let stored = match bucket_parts(store, prefix, id).await {
        Ok(p) => contiguous(&p),
        Err(e) => return Appended::failed(offset, e.into()),
    };
    if stored != offset {
        return Appended::failed(stored, AppendError::Offset(stored));
    }
    let base = part_prefix(prefix, id);
    let mut at = offset;
    let mut buf = BytesMut::new();
    let put = |start: u64, data: Bytes| {
        let key = Key::from(format!("{base}/{start:020}"));
        async move {
            store
                .put(&key, PutPayload::from(data))
                .await
                .map(|_| ())
                .map_err(|e| AppendError::Store(e.into()))
        }
    };
    let mut error = loop {
        match body.next().await {
            None => break None,
            Some(Err(e)) => break Some(AppendError::Body(e.to_string())),
            Some(Ok(chunk)) => {
                let room = length - at - buf.len() as u64;
                let take = (chunk.len() as u64).min(room) as usize;
                buf.extend_from_slice(&chunk[..take]);
                if buf.len() >= BUCKET_PART {
                    let n = buf.len() as u64;
                    if let Err(e) = put(at, buf.split().freeze()).await {
                        break Some(e);
                    }
                    at += n;
                }
                if take < chunk.len() {
                    break Some(AppendError::TooLong);
                }
            }
        }
    };
    // What arrived before a drop is kept too.
    if !buf.is_empty() {
        let n = buf.len() as u64;
        match put(at, buf.freeze()).await {
            Ok(()) => at += n,
            Err(e) => error = error.or(Some(e)),
        }
    }
    Appended { offset: at, error }
}

/// The parts in the bucket, by offset: (start, key, size).
async fn bucket_parts(
    store: &std::sync::Arc<dyn ObjectStore>,
    prefix: &str,
    id: Id,
) -> anyhow::Result<Vec<(u64, Key, u64)>> {
    let base = part_prefix(prefix, id);
    let mut parts: Vec<(u64, Key, u64)> = store
        .list(Some(&base))
        .map_ok(|m| {
            let start = m
                .location
                .filename()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(u64::MAX);
            (start, m.location, m.size)
        })
        .try_collect()
        .await?;
    parts.sort_by_key(|p| p.0);
    Ok(parts)
}

/// Bytes stored without a gap from offset 0.
fn contiguous(parts: &[(u64, Key, u64)]) -> u64 {
    let mut at = 0;
    for (start, _, size) in parts {
        if *start != at {
            break;
        }
        at += size;
    }
    at
}

/// Which request holds each upload on this node. A client that lost its
/// connection comes back with a new `PATCH` while the server may still be
/// waiting on the old one's body: the new one tells the old one to stop
/// and waits for it, so two writers never append at once.
#[derive(Default)]
pub struct UploadLocks {
    held: Mutex<HashMap<Id, Slot>>,
}

struct Slot {
    lock: Arc<tokio::sync::Mutex<()>>,
    stop: CancellationToken,
    /// Which request came last.
    generation: u64,
}

/// Upload `id`, held by one request.
pub struct Held {
    _guard: OwnedMutexGuard<()>,
    /// Fires when a newer request takes the upload over.
    pub stop: CancellationToken,
    id: Id,
    generation: u64,
    locks: Arc<UploadLocks>,
}

impl UploadLocks {
    pub async fn take(self: &Arc<Self>, id: Id) -> Held {
        let stop = CancellationToken::new();
        let (lock, previous, generation) = {
            let mut held = self.held.write_lock();
            let slot = held.entry(id).or_insert_with(|| Slot {
                lock: Arc::new(tokio::sync::Mutex::new(())),
                stop: CancellationToken::new(),
                generation: 0,
            });
            slot.generation += 1;
            let previous = std::mem::replace(&mut slot.stop, stop.clone());
            (slot.lock.clone(), previous, slot.generation)
        };
        previous.cancel();
        Held {
            _guard: lock.lock_owned().await,
            stop,
            id,
            generation,
            locks: self.clone(),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // The last holder forgets the upload; a newer one keeps it.
        let mut held = self.locks.held.write_lock();
        if held
            .get(&self.id)
            .is_some_and(|s| s.generation == self.generation)
        {
            held.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_request_stops_the_one_holding_an_upload() {
        let locks = Arc::new(UploadLocks::default());
        let first = locks.take(Id(1)).await;
        let stop = first.stop.clone();
        let second = {
            let locks = locks.clone();
            tokio::spawn(async move { locks.take(Id(1)).await })
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), stop.cancelled())
            .await
            .expect("the holder was told to stop");
        drop(first);
        let second = tokio::time::timeout(std::time::Duration::from_secs(10), second)
            .await
            .expect("the newcomer got it")
            .expect("task");
        assert!(!second.stop.is_cancelled());
        drop(second);
        assert!(locks.held.write_lock().is_empty());
    }
}
