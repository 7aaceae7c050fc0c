//! Media: photos, videos and avatars (docs/media.md). Uploads arrive
//! whole (`POST /api/media`) or resumably (tus, [`tus`]), are checked
//! ([`intake`]), and are processed by jobs off the request path: videos
//! transcoded ([`transcode`]), images turned into variants ([`photo`]).
//! Outputs are served with Range, ETag and long-lived caching.

pub mod avatar;
pub mod image;
pub mod intake;
pub mod partial;
pub mod photo;
pub mod routes;
pub mod serve;
pub mod sniff;
pub mod store;
pub mod sweep;
pub mod tools;
pub mod transcode;
pub mod tus;
pub mod work;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use sqlx::SqlitePool;

use crate::db::reader::{ReadError, Reader, json_list};
pub use crate::store::media::Attach;
use crate::store::visibility::MEDIA_VISIBLE;
use kith_core::ids::Id;
pub use kith_core::media::MediaView;
use kith_core::media::{MediaKind, Output, VariantSize, variants};

/// Where an upload's bytes wait under the media dir (or its key in the
/// bucket) until processed.
pub fn upload_path(dir: &Path, id: Id) -> PathBuf {
    dir.join("uploads").join(id.to_string())
}
pub fn video_name(id: Id) -> String {
    Output::Video.name(id)
}
pub fn poster_name(id: Id) -> String {
    Output::Poster.name(id)
}

/// The columns a [`MediaRow`] reads, from `media m` joined with its job.
const MEDIA_COLUMNS: &str = "m.id, m.owner_id, m.kind, m.status, m.width, m.height, \
     m.duration_ms, m.error, m.blurhash, m.variants, m.size_bytes, m.sha256, \
     j.progress, j.status AS job_status, j.last_error AS job_error";

struct MediaRow {
    id: i64,
    owner_id: i64,
    kind: String,
    status: String,
    width: Option<i64>,
    height: Option<i64>,
    duration_ms: Option<i64>,
    error: Option<String>,
    blurhash: Option<String>,
    variants: Option<String>,
    size_bytes: i64,
    sha256: Option<String>,
    progress: Option<f64>,
    job_status: Option<String>,
    job_error: Option<String>,
}

impl MediaRow {
    /// The [`MEDIA_COLUMNS`] of a row read through libsql, from column `at`.
    fn read(r: &libsql::Row, at: i32) -> libsql::Result<MediaRow> {
        Ok(MediaRow {
            id: r.get(at)?,
            owner_id: r.get(at + 1)?,
            kind: r.get(at + 2)?,
            status: r.get(at + 3)?,
            width: r.get(at + 4)?,
            height: r.get(at + 5)?,
            duration_ms: r.get(at + 6)?,
            error: r.get(at + 7)?,
            blurhash: r.get(at + 8)?,
            variants: r.get(at + 9)?,
            size_bytes: r.get(at + 10)?,
            sha256: r.get(at + 11)?,
            progress: r.get(at + 12)?,
            job_status: r.get(at + 13)?,
            job_error: r.get(at + 14)?,
        })
    }

    fn view(self, alt: Option<String>) -> MediaView {
        let id = Id(self.id);
        let kind = MediaKind::parse(&self.kind).unwrap_or(MediaKind::Video);
        let ready = self.status == "ready";
        // A job that died or was cancelled fails its media, whatever the
        // media row had reached.
        let (status, error) = match self.job_status.as_deref() {
            Some("dead" | "cancelled") if !ready => {
                ("failed".to_string(), self.error.or(self.job_error))
            }
            _ => (self.status, self.error),
        };
        let (url, poster) = match kind {
            MediaKind::Video => (Output::Video, Output::Poster),
            MediaKind::Image => (
                Output::Display(kith_core::media::Format::Webp),
                Output::Thumb(kith_core::media::Format::Webp),
            ),
            MediaKind::Avatar => (
                Output::Avatar(kith_core::media::AVATAR_SIZES[2]),
                Output::Avatar(kith_core::media::AVATAR_SIZES[0]),
            ),
        };
        let sizes: Vec<VariantSize> = self
            .variants
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default();
        MediaView {
            id,
            kind,
            progress: if ready {
                1.0
            } else {
                self.progress.unwrap_or(0.0)
            },
            url: ready.then(|| url.url(id)),
            poster_url: ready.then(|| poster.url(id)),
            variants: if ready {
                variants(id, &sizes)
            } else {
                Vec::new()
            },
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms,
            blurhash: self.blurhash,
            alt,
            size_bytes: self.size_bytes,
            sha256: self.sha256,
            error,
            status,
            owner_id: self.owner_id,
        }
    }
}

pub fn get(db: &Reader, id: Id) -> Result<Option<MediaView>, ReadError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {MEDIA_COLUMNS} FROM media m LEFT JOIN jobs j ON j.id = m.job_id WHERE m.id = ?"
        )
    });
    Ok(db
        .first(&SQL, [id.0], |r| MediaRow::read(r, 0))?
        .map(|r| r.view(None)))
}

/// The media of each post or message in `ids`, in order, with alt text:
/// one query for a whole page.
pub fn attached(
    db: &Reader,
    carrier: Attach,
    ids: &[Id],
) -> Result<HashMap<Id, Vec<MediaView>>, ReadError> {
    static POSTS: LazyLock<String> = LazyLock::new(|| attached_sql(Attach::Post));
    static MESSAGES: LazyLock<String> = LazyLock::new(|| attached_sql(Attach::Message));
    let mut out: HashMap<Id, Vec<MediaView>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let sql = match carrier {
        Attach::Post => &*POSTS,
        Attach::Message => &*MESSAGES,
    };
    let rows = db.all(sql, [json_list(ids.iter().map(|i| i.0))], |r| {
        Ok((
            r.get::<i64>(0)?,
            r.get::<Option<String>>(1)?,
            MediaRow::read(r, 2)?,
        ))
    })?;
    for (carrier, alt, media) in rows {
        out.entry(Id(carrier)).or_default().push(media.view(alt));
    }
    Ok(out)
}

fn attached_sql(carrier: Attach) -> String {
    let (table, key) = carrier.table();
    format!(
        "SELECT a.{key} AS carrier, a.alt, {MEDIA_COLUMNS}
         FROM {table} a JOIN media m ON m.id = a.media_id LEFT JOIN jobs j ON j.id = m.job_id
         WHERE a.{key} IN (SELECT value FROM json_each(?))
         ORDER BY a.{key}, a.position"
    )
}

/// Whether `viewer` may see media `id` ([`MEDIA_VISIBLE`]: by what
/// carries it, never across a block).
pub async fn visible_to(pool: &SqlitePool, id: Id, viewer: Id) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT 1 FROM media m WHERE m.id = ?2 AND {MEDIA_VISIBLE}"
    ))
    .bind(viewer.0)
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Whether media `id` is on a public post (then shared caches may keep it).
pub async fn is_public(pool: &SqlitePool, id: Id) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM post_media pm JOIN posts p ON p.id = pm.post_id
         WHERE pm.media_id = ? AND p.visibility = 'public' LIMIT 1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}
