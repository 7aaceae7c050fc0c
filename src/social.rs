//! The social graph and its content: profiles, friends, posts, likes,
//! comments, the feed and search.
//!
//! Who may see a post is decided in SQL, in one place ([`VISIBLE`]), and
//! every query that returns posts uses it.

pub mod blocks;
pub mod comments;
pub mod feed;
pub mod friends;
pub mod posts;
pub mod search;
pub mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// The SQL condition "no block stands between user `?1` and the user in
/// column `$col`", in either direction: two primary-key lookups.
macro_rules! unblocked {
    ($col:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM blocks bk WHERE bk.blocker_id = ?1 AND bk.blocked_id = ",
            $col,
            ") AND NOT EXISTS (SELECT 1 FROM blocks bk WHERE bk.blocker_id = ",
            $col,
            " AND bk.blocked_id = ?1)"
        )
    };
}

/// The SQL condition "post `p` is visible to user `?1`": the author's own
/// posts, public posts, and friends-only posts of the author's friends;
/// never across a block.
pub const VISIBLE: &str = concat!(
    "(p.author_id = ?1 OR p.visibility = 'public' OR EXISTS \
     (SELECT 1 FROM friendships vf WHERE vf.user_id = ?1 AND vf.friend_id = p.author_id)) AND ",
    unblocked!("p.author_id")
);

/// The SQL condition "comment `c` is visible to user `?1`" (on a post they
/// may see): not across a block.
pub const COMMENT_VISIBLE: &str = unblocked!("c.author_id");

/// The SQL condition "user `u` has not blocked user `?1`": who may find or
/// see a profile.
pub const NOT_BLOCKED_BY: &str =
    "NOT EXISTS (SELECT 1 FROM blocks bk WHERE bk.blocker_id = u.id AND bk.blocked_id = ?1)";

/// The SQL condition "user `?1` is an admin" (who may remove any post or
/// comment), read at write time so that no cached right outlives its
/// revocation.
pub const IS_ADMIN: &str = "coalesce((SELECT u.is_admin FROM users u WHERE u.id = ?1), 0) <> 0";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(users::router())
        .merge(friends::router())
        .merge(blocks::router())
        .merge(posts::router())
        .merge(comments::router())
        .merge(feed::router())
        .merge(search::router())
}
