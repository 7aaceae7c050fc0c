//! The social graph and its content: profiles, friends, posts, likes,
//! comments, the feed and search.
//!
//! Who may see a post is decided in SQL, in one place
//! ([`crate::store::visibility`]), and every query that returns posts uses
//! it.

pub mod blocks;
pub mod comments;
pub mod feed;
pub mod friends;
pub mod mentions;
pub mod mutes;
pub mod post_json;
pub mod post_view;
pub mod posts;
pub mod relations;
pub mod search;
pub mod tags;
pub mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(users::router())
        .merge(friends::router())
        .merge(blocks::router())
        .merge(mutes::router())
        .merge(posts::router())
        .merge(comments::router())
        .merge(feed::router())
        .merge(search::router())
        .merge(tags::router())
}
