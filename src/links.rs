//! Link previews: the first URL of a post gets a card (title, description,
//! image, site name), fetched by a job ([`LinkJob`]) so that posting never
//! waits on someone else's server, cached by URL (`link_cards`) so that a
//! link shared by many posts is fetched once a day, and fetched safely
//! ([`fetch`]: the address rule of [`kith_core::netguard`] on every DNS
//! answer and redirect, time and size limits).

pub mod card;
pub mod fetch;
pub mod meta;

use async_trait::async_trait;
use serde::Deserialize;
use sqlx::SqlitePool;

use crate::db::Writer;
use crate::jobs::job::{JobCtx, JobError, JobKind};
use crate::live::Touch;
use crate::state::AppState;
use crate::store::links::{CardImage, LINK_JOB, SaveCard};
use crate::store::visibility::VISIBLE;
use kith_core::ids::Id;

#[derive(Deserialize)]
struct Payload {
    url: String,
}

/// Fetches one URL's card and tells the watchers of the posts showing it.
pub struct LinkJob {
    pub writer: Writer,
    pub state: AppState,
    /// `--links-allow-private`.
    pub allow_private: bool,
}

#[async_trait]
impl JobKind for LinkJob {
    fn name(&self) -> &'static str {
        LINK_JOB
    }

    async fn run(&self, ctx: &JobCtx) -> Result<(), JobError> {
        let Payload { url } = serde_json::from_str(&ctx.job.payload)
            .map_err(|e| JobError::Permanent(format!("payload: {e}")))?;
        let card = match fetch::fetch(&url, self.allow_private).await {
            Ok((html, at)) => Some(meta::scan(&html, &at)).filter(|m| !m.is_empty()),
            Err(e) => {
                // A refused or dead link has no card; it is not retried
                // before the card's time is up.
                tracing::info!(%url, error = %e, "no link card");
                None
            }
        };
        let save = match card {
            Some(m) => SaveCard {
                image: match &m.image {
                    Some(src) => picture(src, self.allow_private).await,
                    None => None,
                },
                url,
                ok: true,
                title: m.title,
                description: m.description,
                image_url: m.image,
                site_name: m.site_name,
            },
            None => SaveCard {
                url,
                ok: false,
                title: None,
                description: None,
                image_url: None,
                site_name: None,
                image: None,
            },
        };
        let ok = save.ok;
        let posts = self
            .writer
            .run(save)
            .await
            .map_err(|e| JobError::Retryable(e.to_string()))?;
        if ok {
            for post in posts {
                self.state.touch(Touch::PostChanged { post }).await;
            }
        }
        Ok(())
    }
}

/// The card's picture at `src`, fetched under the page's rules, decoded
/// (its header's pixel count checked first) and re-encoded; none when any
/// of that fails: a card without a picture is still a card.
async fn picture(src: &str, allow_private: bool) -> Option<CardImage> {
    let bytes = match fetch::fetch_image(src, allow_private).await {
        Ok(b) => b,
        Err(e) => {
            tracing::info!(%src, error = %e, "no link card picture");
            return None;
        }
    };
    let made = tokio::task::spawn_blocking(move || {
        crate::media::image::decode_bytes(&bytes).map(crate::media::image::card)
    })
    .await;
    match made {
        Ok(Ok((webp, width, height))) => Some(CardImage {
            webp,
            width,
            height,
        }),
        Ok(Err(e)) => {
            tracing::info!(%src, error = %e, "link card picture not decoded");
            None
        }
        Err(e) => {
            tracing::warn!(%src, error = %e, "link card picture task failed");
            None
        }
    }
}

/// The picture of the card `post` shows, for a viewer who may see the post.
pub async fn picture_of(
    pool: &SqlitePool,
    viewer: Id,
    post: Id,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let sql = format!(
        "SELECT i.webp FROM posts p JOIN link_images i ON i.url = p.link_url
         WHERE p.id = ?2 AND {VISIBLE}"
    );
    sqlx::query_scalar(&sql)
        .bind(viewer.0)
        .bind(post.0)
        .fetch_optional(pool)
        .await
}
