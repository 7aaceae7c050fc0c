//! The home feed: the reader's own posts and their friends' posts, newest
//! first.
//!
//! Fan-out on write: posting writes a row of `feed_items` for the author
//! and each friend (schema.sql, step 17, whose triggers also follow
//! friendships made and ended), so a page is one range of the reader's
//! rows whatever the number of friends.

use axum::extract::State;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::post_json::PostJson;
use super::post_view::{PostView, post_columns};
use crate::auth::User;
use crate::db::reader::{Reader, limited};
use crate::error::AppError;
use crate::http::{JsonBytes, Page, PageParams, PageReq, Query};
use crate::state::AppState;
use kith_core::ids::Id;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(feed))
}

/// The SQL of a page of a reader's feed (`limited` adds its `LIMIT`).
///
/// Friends see both public and friends-only posts of each other, so no
/// visibility filter is needed beyond the rows written for the reader;
/// muted friends leave it (their posts stay on their profile).
///
/// One walk down the reader's `feed_items` range (its primary key, in
/// the page's order), each row checked against the reader's mutes and
/// joined to its post, author and the reader's like as it is reached,
/// stopping at the page's end: no sort, and nothing built per read.
/// `CROSS JOIN` keeps `feed_items` (and the mute check) the outer loop
/// whatever the planner's statistics say.
///
/// The first form (`p.id IN (ids cut to the page)`, mutes as `NOT IN
/// (SELECT ...)`) had SQLite build, on every read, a temporary b-tree for
/// each of the two lists (each with a pager of its own opened and closed)
/// and two Bloom filters. The reader's like and mute are outer joins
/// rather than `EXISTS` subqueries, since a correlated subquery opens and
/// closes a cursor each time it runs: two per row. Feed reads a second on
/// one core, the builds alternated: 8,700–8,900 for the first form,
/// 10,800–11,200 for the walk (24% more); the outer joins then measured
/// the same as the subqueries within this machine's spread (a median of
/// 11,280 against 10,950 over four runs each).
const FEED: &str = concat!(
    "SELECT ",
    post_columns!("l.user_id IS NOT NULL"),
    " FROM feed_items f \
     LEFT JOIN mutes m ON m.muter_id = ?1 AND m.muted_id = f.author_id \
     CROSS JOIN posts p ON p.id = f.post_id \
     JOIN users a ON a.id = p.author_id \
     LEFT JOIN likes l ON l.post_id = p.id AND l.user_id = ?1 \
     WHERE f.user_id = ?1 AND f.post_id < ?2 AND m.muter_id IS NULL \
     ORDER BY f.post_id DESC"
);

/// A page of `reader`'s feed, as JSON (`Page<PostView>`).
pub fn page(
    db: &Reader,
    shared: &PostJson,
    reader: Id,
    page: PageReq,
) -> Result<Vec<u8>, AppError> {
    let sql = limited(FEED, page.fetch());
    shared.page(db, &sql, [reader.0, page.before()], page)
}

#[utoipa::path(get, path = "/api/feed", tag = "posts",
    params(PageParams),
    responses((status = 200, description = "Your posts and your friends' posts, newest first", body = Page<PostView>)))]
async fn feed(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<PageParams>,
) -> Result<JsonBytes, AppError> {
    Ok(JsonBytes(page(
        &state.reader,
        &state.post_json,
        user.id,
        p.resolve()?,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::scratch::{Draw, add_user, fresh};
    use rusqlite::{Connection, params};

    const USERS: i64 = 8;

    /// Schema step 17 undone (its triggers live on other tables, so
    /// dropping the table leaves them), after the steps that follow it.
    fn undo_step_17(conn: &Connection) {
        conn.execute_batch(crate::social::posts::tests::UNDO_STEP_18)
            .expect("back to step 17");
        conn.execute_batch(UNDO_STEP_17).expect("back to step 16");
    }

    const UNDO_STEP_17: &str = "DROP TRIGGER feed_items_post_ins; DROP TRIGGER feed_items_post_del;
         DROP TRIGGER feed_items_friend_ins; DROP TRIGGER feed_items_friend_del;
         DROP TRIGGER feed_items_user_del; DROP TABLE feed_items; PRAGMA user_version = 16;";

    /// Who reads which post by the rule itself ("the author and the
    /// author's friends"), computed from scratch, against the rows the
    /// triggers wrote.
    fn drift(conn: &Connection) -> Vec<(String, i64, i64)> {
        const RULE: &str = "SELECT p.author_id, p.id FROM posts p
             UNION SELECT f.user_id, p.id FROM friendships f JOIN posts p ON p.author_id = f.friend_id";
        let sql = format!(
            "SELECT 'missing', * FROM (SELECT * FROM ({RULE}) EXCEPT SELECT user_id, post_id FROM feed_items)
             UNION ALL SELECT 'extra', * FROM (SELECT user_id, post_id FROM feed_items EXCEPT SELECT * FROM ({RULE}))
             UNION ALL SELECT 'wrong author', f.user_id, f.post_id FROM feed_items f
               JOIN posts p ON p.id = f.post_id WHERE p.author_id <> f.author_id"
        );
        let mut st = conn.prepare(&sql).expect("drift query");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("drift query")
            .collect::<Result<_, _>>()
            .expect("drift rows")
    }

    /// A user's whole feed by the rule (own and friends' posts, muted
    /// friends left out), newest first.
    fn expected(conn: &Connection, user: i64) -> Vec<Id> {
        let mut st = conn
            .prepare(
                "SELECT id FROM posts WHERE (author_id = ?1 OR author_id IN
                   (SELECT friend_id FROM friendships WHERE user_id = ?1))
                 AND author_id NOT IN (SELECT muted_id FROM mutes WHERE muter_id = ?1)
                 ORDER BY id DESC",
            )
            .expect("rule query");
        st.query_map([user], |r| Ok(Id(r.get(0)?)))
            .expect("rule query")
            .collect::<Result<_, _>>()
            .expect("rule rows")
    }

    /// The feed's query as SQLite plans it: a walk down the reader's
    /// `feed_items` range first, with no sort, nothing built per read (the
    /// first form built two temporary b-trees and two Bloom filters) and no
    /// subquery run per row.
    #[test]
    fn a_feed_page_is_one_walk_of_the_readers_range() {
        let (_dir, _path, conn) = fresh();
        let sql = format!("EXPLAIN QUERY PLAN {}", limited(FEED, 21));
        let mut st = conn.prepare(&sql).expect("plan");
        let plan: Vec<String> = st
            .query_map([1, i64::MAX], |r| r.get(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        assert!(
            plan[0].starts_with("SEARCH f USING PRIMARY KEY (user_id=? AND post_id<?)"),
            "{plan:?}"
        );
        // Muted authors' rows are dropped before their posts are read.
        assert!(plan[1].starts_with("SEARCH m "), "{plan:?}");
        for step in &plan {
            assert!(
                !step.contains("TEMP B-TREE")
                    && !step.contains("LIST SUBQUERY")
                    && !step.contains("BLOOM FILTER")
                    && !step.contains("CORRELATED"),
                "{plan:?}"
            );
        }
    }

    /// Every page of a user's feed, 7 posts at a time.
    fn whole_feed(reader: &Reader, user: i64) -> Vec<Id> {
        let shared = PostJson::default();
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let req = PageReq { limit: 7, cursor };
            let json = page(reader, &shared, Id(user), req).expect("feed page");
            let p: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
            let items = p["items"].as_array().expect("items");
            ids.extend(items.iter().map(|i| {
                let id = i["id"].as_str().expect("an id");
                id.parse::<Id>().expect("an id")
            }));
            match p["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.parse::<Id>().expect("cursor").0),
                None => return ids,
            }
        }
    }

    /// Random posts, friendships made and ended, mutes, deleted posts and
    /// deleted accounts, in any order: after each step the table holds
    /// exactly what the rule says, and every page of every feed matches
    /// the rule's merge of friends' posts (the read this table replaced).
    #[test]
    fn the_feed_table_follows_every_write_that_changes_a_feed() {
        let (_dir, path, conn) = fresh();
        for u in 1..=USERS {
            add_user(&conn, u);
        }
        let reader = Reader::open(&path).expect("reader");
        let mut draw = Draw::new(0x2545_f491_4f6c_dd1d);
        // Posts, befriending, unfriending, muting, deleting a post,
        // unmuting, deleting an account: how often each is drawn (of 16).
        const WEIGHTS: [i64; 7] = [5, 4, 2, 1, 2, 1, 1];
        let mut seen = [0usize; 7];
        for step in 0..400 {
            let (a, b) = (draw.below(USERS) + 1, draw.below(USERS) + 1);
            let op = draw.pick(&WEIGHTS);
            let changed = match op {
                0 => conn.execute(
                    "INSERT INTO posts (author_id, body, visibility, created_at)
                     VALUES (?1, 'x', 'friends', 0)",
                    [a],
                ),
                1 if a != b => conn.execute(
                    "INSERT OR IGNORE INTO friendships (user_id, friend_id, created_at)
                     VALUES (?1, ?2, 0), (?2, ?1, 0)",
                    params![a, b],
                ),
                2 => conn.execute(
                    "DELETE FROM friendships
                     WHERE (user_id = ?1 AND friend_id = ?2) OR (user_id = ?2 AND friend_id = ?1)",
                    params![a, b],
                ),
                3 if a != b => conn.execute(
                    "INSERT INTO mutes (muter_id, muted_id, created_at) VALUES (?1, ?2, 0)
                     ON CONFLICT DO NOTHING",
                    params![a, b],
                ),
                4 => conn.execute(
                    "DELETE FROM posts WHERE id = (SELECT id FROM posts ORDER BY id LIMIT 1 OFFSET ?1)",
                    [draw.below(8)],
                ),
                5 => conn.execute("DELETE FROM mutes WHERE muter_id = ?1", [a]),
                6 => {
                    // An account deleted (its posts, friendships and mutes
                    // go by cascade) and the id taken again.
                    let n = conn
                        .execute("DELETE FROM users WHERE id = ?1", [a])
                        .expect("delete user");
                    add_user(&conn, a);
                    Ok(n)
                }
                _ => Ok(0),
            }
            .expect("write");
            if changed > 0 {
                seen[op] += 1;
            }
            let dump = |sql: &str| -> Vec<(i64, i64)> {
                let mut st = conn.prepare(sql).expect("dump");
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .expect("dump")
                    .collect::<Result<_, _>>()
                    .expect("dump")
            };
            assert_eq!(
                drift(&conn),
                vec![],
                "after step {step} (op {op} {a} {b}) {:?} {:?}",
                dump("SELECT user_id, friend_id FROM friendships"),
                dump("SELECT id, author_id FROM posts")
            );
            if step % 20 == 0 {
                for u in 1..=USERS {
                    assert_eq!(whole_feed(&reader, u), expected(&conn, u), "user {u}");
                }
            }
        }
        assert!(
            seen.iter().all(|&n| n > 0),
            "every kind of write ran: {seen:?}"
        );
        let items: i64 = conn
            .query_row("SELECT count(*) FROM feed_items", [], |r| r.get(0))
            .expect("count");
        assert!(items > 50, "the feeds were not trivially empty: {items}");
    }

    /// A database from before the table gets it filled from the posts and
    /// friendships already there.
    #[test]
    fn the_upgrade_fills_the_feed_table_from_what_is_there() {
        let (_dir, path, mut conn) = fresh();
        undo_step_17(&conn);
        for u in 1..=USERS {
            add_user(&conn, u);
        }
        conn.execute_batch(
            "INSERT INTO friendships (user_id, friend_id, created_at)
               VALUES (1, 2, 0), (2, 1, 0), (2, 3, 0), (3, 2, 0);
             INSERT INTO posts (author_id, body, visibility, created_at)
               VALUES (1, 'a', 'public', 0), (2, 'b', 'friends', 0), (3, 'c', 'public', 0),
                      (4, 'd', 'public', 0), (2, 'e', 'public', 0);",
        )
        .expect("rows from before");
        crate::db::schema::apply(&mut conn).expect("upgrade");
        assert_eq!(drift(&conn), vec![]);
        let reader = Reader::open(&path).expect("reader");
        assert_eq!(whole_feed(&reader, 2), expected(&conn, 2));
        assert_eq!(
            whole_feed(&reader, 2).len(),
            4,
            "own two, one of 1, one of 3"
        );
    }
}
