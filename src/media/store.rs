//! Where media files live: the local media dir (the default; nodes of one
//! host share it), or an S3-compatible bucket (nodes on different hosts:
//! Tigris on Fly.io, MinIO, any S3), chosen by `--media-store`.
//!
//! Either way the media dir is the local working area: an upload is
//! streamed there first (it must be sniffed and probed), and ffmpeg reads
//! and writes local files. With a bucket, the upload is then moved into it,
//! a worker on any node downloads it to transcode, and the outputs are
//! uploaded when complete (under their final names only once whole, as the
//! local rename does). Range requests are answered from either.
//!
//! Keys in the bucket, under its prefix: `uploads/{id}`, `{id}.mp4`,
//! `{id}.jpg`: the same names as under the media dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
    WriteMultipart,
};
use tokio::io::AsyncReadExt;

use super::serve::{self, Meta};
use crate::error::AppError;
use kith_core::ids::Id;
use kith_core::media::{MediaKind, Output};

/// Uploads at most this large go up in one request; larger ones in parts.
const SINGLE_PUT: u64 = 8 * 1024 * 1024;
/// Part size of a multipart upload (S3's minimum is 5 MiB).
const PART: usize = 8 * 1024 * 1024;
/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

#[derive(Clone, Debug)]
pub enum MediaStore {
    /// Files under the media dir.
    Local,
    /// Objects in a bucket.
    Bucket {
        store: Arc<dyn ObjectStore>,
        prefix: String,
        /// `s3://bucket/prefix`, for logs.
        url: String,
    },
}

impl MediaStore {
    /// `local`, or `s3://BUCKET[/PREFIX]` with credentials, region and
    /// endpoint from the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` or
    /// `AWS_ENDPOINT_URL_S3`).
    pub fn from_spec(spec: &str) -> anyhow::Result<MediaStore> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "local" {
            return Ok(MediaStore::Local);
        }
        let rest = spec.strip_prefix("s3://").with_context(|| {
            format!("--media-store {spec:?}: expected `local` or `s3://BUCKET[/PREFIX]`")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(!bucket.is_empty(), "--media-store {spec:?}: no bucket");
        // The bucket's HTTP client takes rustls's process-wide provider:
        // ring (installing it twice is harmless).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .ok();
        if let Some(e) = &endpoint {
            builder = builder
                .with_endpoint(e)
                // Custom endpoints (MinIO, Tigris) take path-style URLs.
                .with_virtual_hosted_style_request(false)
                .with_allow_http(e.starts_with("http://"));
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            builder = builder.with_region("auto");
        }
        let store = builder
            .build()
            .with_context(|| format!("configuring the bucket for {spec}"))?;
        Ok(MediaStore::Bucket {
            store: Arc::new(store),
            prefix: prefix.trim_matches('/').to_owned(),
            url: spec.to_owned(),
        })
    }

    fn key(prefix: &str, name: &str) -> Key {
        if prefix.is_empty() {
            Key::from(name)
        } else {
            Key::from(format!("{prefix}/{name}"))
        }
    }

    /// An upload spooled to `local` (its place under the media dir) is
    /// accepted: kept there, or moved into the bucket.
    pub async fn keep_upload(&self, id: Id, local: &Path) -> anyhow::Result<()> {
        match self {
            MediaStore::Local => Ok(()),
            MediaStore::Bucket { store, prefix, .. } => {
                put_file(store, &Self::key(prefix, &format!("uploads/{id}")), local).await?;
                let _ = tokio::fs::remove_file(local).await;
                Ok(())
            }
        }
    }

    /// The upload as a local file for ffmpeg, or `None` when it is gone.
    /// From a bucket it is downloaded to `spool` (removed when the returned
    /// guard is dropped).
    pub async fn fetch_upload(
        &self,
        dir: &Path,
        id: Id,
        spool: PathBuf,
    ) -> anyhow::Result<Option<Local>> {
        match self {
            MediaStore::Local => {
                let path = super::upload_path(dir, id);
                Ok(path.is_file().then_some(Local { path, temp: false }))
            }
            MediaStore::Bucket { store, prefix, .. } => {
                let key = Self::key(prefix, &format!("uploads/{id}"));
                let got = match store.get_opts(&key, GetOptions::default()).await {
                    Ok(g) => g,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let guard = Local {
                    path: spool,
                    temp: true,
                };
                let mut out = tokio::fs::File::create(&guard.path).await?;
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.try_next().await? {
                    tokio::io::AsyncWriteExt::write_all(&mut out, &chunk).await?;
                }
                tokio::io::AsyncWriteExt::flush(&mut out).await?;
                Ok(Some(guard))
            }
        }
    }

    /// Puts a finished output (`tmp`, under the media dir) in place as
    /// `name` (`{id}.mp4` or `{id}.jpg`).
    pub async fn publish(&self, dir: &Path, tmp: &Path, name: &str) -> anyhow::Result<()> {
        match self {
            MediaStore::Local => {
                tokio::fs::rename(tmp, dir.join(name)).await?;
                Ok(())
            }
            MediaStore::Bucket { store, prefix, .. } => {
                put_file(store, &Self::key(prefix, name), tmp).await?;
                let _ = tokio::fs::remove_file(tmp).await;
                Ok(())
            }
        }
    }

    /// Deletes every file of media `id`: its upload and its outputs (those
    /// that exist). For account deletion, media attached to nothing, and
    /// outputs of media deleted while they were being made.
    pub async fn remove(&self, dir: &Path, id: Id) -> anyhow::Result<()> {
        let mut names = vec![format!("uploads/{id}")];
        for kind in [MediaKind::Video, MediaKind::Image, MediaKind::Avatar] {
            names.extend(Output::all(kind).into_iter().map(|o| o.name(id)));
        }
        self.remove_names(dir, &names).await
    }

    /// Deletes the upload of media `id` once its outputs are made.
    pub async fn remove_upload(&self, dir: &Path, id: Id) -> anyhow::Result<()> {
        self.remove_names(dir, &[format!("uploads/{id}")]).await
    }

    async fn remove_names(&self, dir: &Path, names: &[String]) -> anyhow::Result<()> {
        for name in names {
            match self {
                MediaStore::Local => match tokio::fs::remove_file(dir.join(name)).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                },
                MediaStore::Bucket { store, prefix, .. } => {
                    match store.delete(&Self::key(prefix, name)).await {
                        Err(object_store::Error::NotFound { .. }) | Ok(()) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(())
    }

    /// Serves the output `name` with Range, ETag and the given caching.
    pub async fn serve(
        &self,
        dir: &Path,
        name: &str,
        content_type: &'static str,
        cache_control: &'static str,
        headers: &HeaderMap,
    ) -> Result<Response, AppError> {
        match self {
            MediaStore::Local => {
                serve::file(&dir.join(name), content_type, cache_control, headers).await
            }
            MediaStore::Bucket { store, prefix, .. } => {
                let key = Self::key(prefix, name);
                let head = GetOptions {
                    head: true,
                    ..GetOptions::default()
                };
                let meta = match store.get_opts(&key, head).await {
                    Ok(g) => g.meta,
                    Err(object_store::Error::NotFound { .. }) => {
                        return Err(AppError::not_found("media"));
                    }
                    Err(e) => return Err(bucket_error(e)),
                };
                let tag = meta
                    .e_tag
                    .as_deref()
                    .map(|t| t.trim_matches('"').to_owned())
                    .unwrap_or_else(|| {
                        format!("{:x}-{}", meta.size, meta.last_modified.timestamp())
                    });
                let store = store.clone();
                serve::respond(
                    Meta {
                        len: meta.size,
                        etag: format!("\"{tag}\""),
                        content_type,
                        cache_control,
                    },
                    headers,
                    |range| async move {
                        let opts = GetOptions {
                            range: range.map(|(s, e)| GetRange::Bounded(s..e + 1)),
                            ..GetOptions::default()
                        };
                        let got = store.get_opts(&key, opts).await.map_err(bucket_error)?;
                        Ok(Body::from_stream(got.into_stream()))
                    },
                )
                .await
            }
        }
    }
}

fn bucket_error(e: object_store::Error) -> AppError {
    tracing::warn!(error = %e, "media bucket");
    AppError::Unavailable("the media store cannot be reached; retry".into())
}

/// Streams a local file into the bucket: one request when small, parts
/// otherwise. Never holds more than a few parts in memory.
async fn put_file(store: &Arc<dyn ObjectStore>, key: &Key, path: &Path) -> anyhow::Result<()> {
    let mut f = tokio::fs::File::open(path).await?;
    let len = f.metadata().await?.len();
    if len <= SINGLE_PUT {
        let mut buf = Vec::with_capacity(len as usize);
        f.read_to_end(&mut buf).await?;
        store
            .put_opts(key, PutPayload::from(buf), PutOptions::default())
            .await?;
        return Ok(());
    }
    let upload = store
        .put_multipart_opts(key, PutMultipartOptions::default())
        .await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        writer.write(&buf[..n]);
    }
    writer.finish().await?;
    Ok(())
}

/// A local copy of an upload; a downloaded one is removed on drop.
#[derive(Debug)]
pub struct Local {
    pub path: PathBuf,
    temp: bool,
}

impl Drop for Local {
    fn drop(&mut self) {
        if self.temp {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert!(matches!(
            MediaStore::from_spec("local"),
            Ok(MediaStore::Local)
        ));
        assert!(MediaStore::from_spec("ftp://x").is_err());
        assert!(MediaStore::from_spec("s3://").is_err());
        match MediaStore::from_spec("s3://bucket/some/prefix/") {
            Ok(MediaStore::Bucket { prefix, .. }) => assert_eq!(prefix, "some/prefix"),
            other => panic!("{other:?}"),
        }
        assert_eq!(MediaStore::key("", "a.mp4").as_ref(), "a.mp4");
        assert_eq!(
            MediaStore::key("p/q", "uploads/1").as_ref(),
            "p/q/uploads/1"
        );
    }
}
