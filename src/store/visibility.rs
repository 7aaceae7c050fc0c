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

/// The SQL condition "the member row `cm` may read message `mg`": a member
/// added later reads from their addition on, a removed one up to their
/// removal (src/store/chat_groups.rs).
macro_rules! member_reads {
    () => {
        "mg.seq > cm.joined_seq AND (cm.left_seq IS NULL OR mg.seq <= cm.left_seq)"
    };
}
pub const MEMBER_READS: &str = member_reads!();

/// The SQL condition "user `u` has not blocked user `?1`", as a literal.
macro_rules! not_blocked_by {
    () => {
        "NOT EXISTS (SELECT 1 FROM blocks bk WHERE bk.blocker_id = u.id AND bk.blocked_id = ?1)"
    };
}

/// The SQL condition "media `m` is visible to user `?1`": its owner's own;
/// on a post `?1` may see ([`VISIBLE`], blocks included); on a message `?1`
/// may read ([`MEMBER_READS`]); or the avatar of a user who has not
/// blocked `?1` ([`NOT_BLOCKED_BY`]).
pub const MEDIA_VISIBLE: &str = concat!(
    "(m.owner_id = ?1 OR EXISTS (SELECT 1 FROM post_media pm JOIN posts p ON p.id = pm.post_id \
     WHERE pm.media_id = m.id AND ",
    post_visible!(),
    ") OR EXISTS (SELECT 1 FROM message_media mm JOIN messages mg ON mg.id = mm.message_id \
     JOIN conversation_members cm ON cm.conversation_id = mg.conversation_id AND cm.user_id = ?1 \
     WHERE mm.media_id = m.id AND ",
    member_reads!(),
    ") OR EXISTS (SELECT 1 FROM users u WHERE u.avatar_id = m.id AND ",
    not_blocked_by!(),
    "))"
);

/// The SQL condition "user `u` has not blocked user `?1`": who may find or
/// see a profile.
pub const NOT_BLOCKED_BY: &str = not_blocked_by!();

/// The SQL condition "user `?1` is an admin" (who may remove any post or
/// comment), read at write time so that no cached right outlives its
/// revocation.
pub const IS_ADMIN: &str = "coalesce((SELECT u.is_admin FROM users u WHERE u.id = ?1), 0) <> 0";
