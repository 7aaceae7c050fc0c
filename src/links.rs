//! Link previews: the first URL of a post gets a card (title, description,
//! image, site name), fetched by a job ([`LinkJob`]) so that posting never
//! waits on someone else's server, cached by URL (`link_cards`) so that a
//! link shared by many posts is fetched once a day, and fetched safely
//! ([`fetch`]: the address rule of [`kith_core::netguard`] on every DNS
//! answer and redirect, time and size limits).

pub mod fetch;
pub mod meta;

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa::ToSchema;

use crate::db::Writer;
use crate::jobs::job::{JobCtx, JobError, JobKind};
use crate::live::Touch;
use crate::state::AppState;
use crate::store::links::{LINK_JOB, SaveCard};
use kith_core::ids::Id;

/// A post's link card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct LinkCard {
    pub url: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub site_name: Option<String>,
}

/// The cards of `posts` that have one.
pub async fn cards(pool: &SqlitePool, posts: &[Id]) -> Result<HashMap<Id, LinkCard>, sqlx::Error> {
    if posts.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT p.id, c.url, c.title, c.description, c.image_url, c.site_name
         FROM posts p JOIN link_cards c ON c.url = p.link_url AND c.ok <> 0
         WHERE p.id IN ({})",
        vec!["?"; posts.len()].join(", ")
    );
    type Row = (
        i64,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let mut q = sqlx::query_as::<_, Row>(&sql);
    for p in posts {
        q = q.bind(p.0);
    }
    Ok(q.fetch_all(pool)
        .await?
        .into_iter()
        .map(|(id, url, title, description, image_url, site_name)| {
            (
                Id(id),
                LinkCard {
                    url,
                    title,
                    description,
                    image_url,
                    site_name,
                },
            )
        })
        .collect())
}

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
