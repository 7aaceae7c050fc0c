//! Who may see what, as SQL conditions: the one statement of each rule,
//! used by every read that returns posts, comments, media or profiles and
//! by the writes that check them. Each condition names the viewer `?1`.

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

/// The SQL condition "post `p` is visible to user `?1`", as a literal for
/// the conditions built on it.
macro_rules! post_visible {
    () => {
        concat!(
            "(p.author_id = ?1 OR p.visibility = 'public' OR EXISTS \
             (SELECT 1 FROM friendships vf WHERE vf.user_id = ?1 AND vf.friend_id = p.author_id)) AND ",
            unblocked!("p.author_id")
        )
    };
}

/// The SQL condition "post `p` is visible to user `?1`": the author's own
/// posts, public posts, and friends-only posts of the author's friends;
/// never across a block.
pub const VISIBLE: &str = post_visible!();

/// The SQL condition "comment `c` is visible to user `?1`" (on a post they
/// may see): not across a block.
pub const COMMENT_VISIBLE: &str = unblocked!("c.author_id");

/// The SQL condition "media `m` is visible to user `?1`": its owner's own,
/// or attached to a post `?1` may see ([`VISIBLE`], blocks included).
pub const MEDIA_VISIBLE: &str = concat!(
    "(m.owner_id = ?1 OR EXISTS (SELECT 1 FROM posts p WHERE p.media_id = m.id AND ",
    post_visible!(),
    "))"
);

/// The SQL condition "user `u` has not blocked user `?1`": who may find or
/// see a profile.
pub const NOT_BLOCKED_BY: &str =
    "NOT EXISTS (SELECT 1 FROM blocks bk WHERE bk.blocker_id = u.id AND bk.blocked_id = ?1)";

/// The SQL condition "user `?1` is an admin" (who may remove any post or
/// comment), read at write time so that no cached right outlives its
/// revocation.
pub const IS_ADMIN: &str = "coalesce((SELECT u.is_admin FROM users u WHERE u.id = ?1), 0) <> 0";
