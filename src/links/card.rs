//! A post's link card as its readers see it, read from `link_cards` and
//! `link_images`. Reads only: fetching cards is the job in `links`.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::reader::{ReadError, Reader, json_list};
use kith_core::ids::Id;

/// A post's link card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct LinkCard {
    pub url: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Where the page said its picture is (never loaded by the client).
    pub image_url: Option<String>,
    pub site_name: Option<String>,
    /// The picture as kith serves it (`GET /api/posts/{id}/link-image`),
    /// when it could be fetched and decoded; with its size, for layout.
    pub image: Option<CardPicture>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct CardPicture {
    pub url: String,
    pub width: u32,
    pub height: u32,
}

/// The cards of `posts` that have one.
pub fn cards(db: &Reader, posts: &[Id]) -> Result<HashMap<Id, LinkCard>, ReadError> {
    if posts.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = db.all(
        "SELECT p.id, c.url, c.title, c.description, c.image_url, c.site_name, i.width, i.height
         FROM posts p JOIN link_cards c ON c.url = p.link_url AND c.ok <> 0
         LEFT JOIN link_images i ON i.url = c.url
         WHERE p.id IN (SELECT value FROM json_each(?))",
        [json_list(posts.iter().map(|p| p.0))],
        |r| {
            Ok((
                r.get::<i64>(0)?,
                r.get::<String>(1)?,
                r.get::<Option<String>>(2)?,
                r.get::<Option<String>>(3)?,
                r.get::<Option<String>>(4)?,
                r.get::<Option<String>>(5)?,
                r.get::<Option<u32>>(6)?,
                r.get::<Option<u32>>(7)?,
            ))
        },
    )?;
    Ok(rows
        .into_iter()
        .map(
            |(id, url, title, description, image_url, site_name, width, height)| {
                let image = width.zip(height).map(|(width, height)| CardPicture {
                    // The card's URL in the query: a new picture (the card is
                    // fetched again daily) is a new address for caches.
                    url: format!(
                        "/api/posts/{}/link-image?v={}",
                        Id(id),
                        picture_version(&url, width, height)
                    ),
                    width,
                    height,
                });
                (
                    Id(id),
                    LinkCard {
                        url,
                        title,
                        description,
                        image_url,
                        site_name,
                        image,
                    },
                )
            },
        )
        .collect())
}

/// A short tag of a card picture's identity, for its address.
fn picture_version(url: &str, width: u32, height: u32) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("{url} {width}x{height}").as_bytes());
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}
