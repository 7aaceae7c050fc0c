//! Writes for link previews: the URL a post shows a card for, the job
//! that fetches a card, and the card.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::jobs::{NewJob, enqueue_tx};
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};
use kith_core::text;

/// The job kind that fetches a card.
pub const LINK_JOB: &str = "link_preview";

/// A card is fetched again after this long: pages change their titles,
/// but not often enough to fetch more than daily.
pub const CARD_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// Sets `post`'s card URL to the first URL of `body`; when no fresh card
/// of it exists, enqueues its fetch (once per URL per day however many
/// posts link it).
/// `edit`: it may have had one (a new post's is NULL already).
pub fn set_link(conn: &Connection, post: Id, body: &str, edit: bool) -> Result<(), CmdError> {
    let url = text::first_url(body);
    if edit || url.is_some() {
        conn.prepare_cached("UPDATE posts SET link_url = ? WHERE id = ?")?
            .execute(params![url, post.0])?;
    }
    let Some(url) = url else { return Ok(()) };
    let fetched: Option<i64> = conn
        .prepare_cached("SELECT fetched_at FROM link_cards WHERE url = ?")?
        .query_row([&url], |r| r.get(0))
        .optional()?;
    let now = now_ms();
    if fetched.is_some_and(|at| now - at < CARD_TTL_MS) {
        return Ok(());
    }
    enqueue_tx(
        conn,
        &NewJob {
            id: Id::generate(),
            kind: LINK_JOB.into(),
            payload: serde_json::json!({ "url": url }).to_string(),
            priority: 0,
            // A page that does not answer twice is not worth more tries.
            max_attempts: 2,
            idempotency_key: Some(format!("{LINK_JOB}:{}:{url}", now / CARD_TTL_MS)),
            owner: None,
        },
    )?;
    Ok(())
}

/// A fetched card (or, with `ok` false, a page that gave none).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SaveCard {
    pub url: String,
    pub ok: bool,
    pub title: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub site_name: Option<String>,
    /// `image_url`'s picture as kith serves it, when it could be fetched
    /// and decoded.
    pub image: Option<CardImage>,
}

/// A card's picture, re-encoded (src/media/image.rs, `card`).
#[derive(Clone, Serialize, Deserialize)]
pub struct CardImage {
    /// WebP, base64 in JSON: it crosses the cluster link inside the
    /// command, and as a JSON array of numbers it would be four times
    /// its size.
    #[serde(with = "base64_bytes")]
    pub webp: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for CardImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CardImage({}x{}, {} bytes)",
            self.width,
            self.height,
            self.webp.len()
        )
    }
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

impl Command for SaveCard {
    /// The posts that show it (at most 100), to tell their watchers.
    type Reply = Vec<Id>;
    fn apply(self, conn: &Connection) -> Result<Vec<Id>, CmdError> {
        conn.prepare_cached(
            "INSERT INTO link_cards (url, title, description, image_url, site_name, fetched_at, ok)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (url) DO UPDATE SET title = ?2, description = ?3, image_url = ?4,
               site_name = ?5, fetched_at = ?6, ok = ?7",
        )?
        .execute(params![
            self.url,
            self.title,
            self.description,
            self.image_url,
            self.site_name,
            now_ms(),
            self.ok
        ])?;
        // The picture goes with the card it was fetched with: a card fetched
        // again without one shows none.
        match &self.image {
            Some(img) => {
                conn.prepare_cached(
                    "INSERT INTO link_images (url, webp, width, height) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (url) DO UPDATE SET webp = ?2, width = ?3, height = ?4",
                )?
                .execute(params![self.url, img.webp, img.width, img.height])?;
            }
            None => {
                conn.prepare_cached("DELETE FROM link_images WHERE url = ?")?
                    .execute([&self.url])?;
            }
        }
        let posts = conn
            .prepare_cached("SELECT id FROM posts WHERE link_url = ? ORDER BY id DESC LIMIT 100")?
            .query_map([&self.url], |r| r.get(0).map(Id))?
            .collect::<Result<_, _>>()?;
        Ok(posts)
    }
}
