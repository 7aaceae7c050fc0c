//! The social graph and its content: profiles, friends, posts, likes,
//! comments, the feed and search.
//!
//! Who may see a post is decided in SQL, in one place ([`VISIBLE`]), and
//! every query that returns posts uses it.

pub mod comments;
pub mod feed;
pub mod friends;
pub mod posts;
pub mod search;
pub mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// The SQL condition "post `p` is visible to user `?1`": the author's own
/// posts, public posts, and friends-only posts of the author's friends.
pub const VISIBLE: &str = "(p.author_id = ?1 OR p.visibility = 'public' OR EXISTS \
     (SELECT 1 FROM friendships vf WHERE vf.user_id = ?1 AND vf.friend_id = p.author_id))";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(users::router())
        .merge(friends::router())
        .merge(posts::router())
        .merge(comments::router())
        .merge(feed::router())
        .merge(search::router())
}
