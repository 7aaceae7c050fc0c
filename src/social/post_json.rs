//! A post's JSON, made once and shared by everyone who reads it while it
//! is unchanged.
//!
//! A feed page is 20 posts that most of their readers see alike; building
//! each one's `PostView` (a dozen strings copied out of the row, three
//! avatar addresses formatted) and serializing it was about a fifth of a
//! feed read's CPU in a profile. Here a post's JSON is kept with the row it
//! was made from, and reused only while the post's row, read again by the
//! page's query, holds the same values in every column: no invalidation to
//! keep in step with likes, edits, renames or other nodes' writes, since
//! the check is against what the reader reads now. Only `liked_by_me`,
//! the reader's own, is written per reader. Posts whose JSON draws on other
//! tables (media, link cards, mentions) are made the usual way each time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kith_core::sync::Unpoisoned;

use libsql::params::IntoParams;

use super::post_view::{PostRow, PostView, views};
use crate::db::reader::Reader;
use crate::error::AppError;
use crate::http::{Page, PageReq};
use kith_core::ids::Id;

/// What the shared JSON may hold, in bytes: about 20,000 posts of a
/// kilobyte (a feed page's 20 for each of a thousand readers' distinct
/// pages), a few percent of a node's memory at 10,000 users.
const MAX_BYTES: usize = 24 << 20;

/// The field a post's JSON is cut at, written per reader. Its quotes are
/// bare, so it cannot occur inside a string value (where they are escaped).
const LIKED: &[u8] = b",\"liked_by_me\":";

/// A post's JSON as made from `row`, cut around the value of
/// `liked_by_me`.
struct Made {
    row: PostRow,
    head: Box<[u8]>,
    tail: Box<[u8]>,
}

impl Made {
    fn new(row: PostRow, view: &PostView) -> Result<Made, AppError> {
        let mut json = serde_json::to_vec(view).map_err(|e| AppError::Internal(e.into()))?;
        let at = json
            .windows(LIKED.len())
            .position(|w| w == LIKED)
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("a post's JSON has no liked_by_me"))
            })?;
        let value = at + LIKED.len();
        let len = if view.liked_by_me { 4 } else { 5 };
        let tail = json.split_off(value + len).into_boxed_slice();
        json.truncate(value);
        Ok(Made {
            row,
            head: json.into_boxed_slice(),
            tail,
        })
    }

    fn write(&self, liked: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(if liked { b"true" } else { b"false" });
        out.extend_from_slice(&self.tail);
    }

    /// Its bytes, with a little for the map's entry and the row's fields.
    fn weight(&self) -> usize {
        self.head.len() + self.tail.len() + self.row.heap_bytes() + 256
    }
}

/// The posts' JSON this node has made, by post id, in shards by id (ids
/// are sequential, so the shards fill evenly). A shard over its share of
/// the bytes is emptied and fills again from the next reads: no order to
/// keep on every read, which with a general cache (moka) cost 4% of a feed
/// read's CPU, as much as what sharing saved.
pub struct PostJson {
    shards: Box<[RwLock<Shard>]>,
    shard_bytes: usize,
}

#[derive(Default)]
struct Shard {
    made: HashMap<i64, Arc<Made>, foldhash::fast::RandomState>,
    bytes: usize,
}

const SHARDS: usize = 16;

impl Default for PostJson {
    fn default() -> Self {
        PostJson::with_capacity(MAX_BYTES)
    }
}

/// A row of the page's query: a post whose JSON was made from the same
/// values, or one to make.
enum Got {
    Same(Arc<Made>, bool),
    New(PostRow),
}

impl Got {
    fn id(&self) -> i64 {
        match self {
            Got::Same(m, _) => m.row.id(),
            Got::New(r) => r.id(),
        }
    }
}

impl PostJson {
    pub fn with_capacity(bytes: usize) -> PostJson {
        PostJson {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            shard_bytes: bytes / SHARDS,
        }
    }

    fn shard(&self, id: i64) -> &RwLock<Shard> {
        &self.shards[id.rem_euclid(SHARDS as i64) as usize]
    }

    fn get(&self, id: i64) -> Option<Arc<Made>> {
        self.shard(id).read_lock().made.get(&id).cloned()
    }

    fn keep(&self, made: Made) {
        let id = made.row.id();
        let weight = made.weight();
        let mut shard = self.shard(id).write_lock();
        if shard.bytes + weight > self.shard_bytes {
            shard.made.clear();
            shard.bytes = 0;
        }
        if let Some(old) = shard.made.insert(id, Arc::new(made)) {
            shard.bytes -= old.weight();
        }
        shard.bytes += weight;
    }

    /// Posts whose JSON is kept.
    #[cfg(test)]
    fn kept(&self, id: i64) -> bool {
        self.get(id).is_some()
    }

    #[cfg(test)]
    fn forget_all(&self) {
        for s in self.shards.iter() {
            *s.write_lock() = Shard::default();
        }
    }

    /// A page of posts as JSON, `{"items":[…],"next_cursor":…}` (as
    /// [`crate::http::Page`] writes it), from a query whose columns are
    /// [`super::post_view::post_columns`]'s (as [`super::post_view::POST_SELECT`]'s
    /// are) that fetches up to `req.fetch()` rows newest first.
    pub fn page(
        &self,
        db: &Reader,
        sql: &str,
        params: impl IntoParams,
        req: PageReq,
    ) -> Result<Vec<u8>, AppError> {
        let rows = db.all(sql, params, |r| {
            let id: i64 = r.get(0)?;
            if let Some(m) = self.get(id)
                && m.row.same_as(r)?
            {
                return Ok(Got::Same(m, r.get(6)?));
            }
            Ok(Got::New(PostRow::read(r)?))
        })?;
        let page = Page::from_rows(rows, req, |g| Id(g.id()));
        // Made the usual way (one query each for media, link cards and
        // mentions, when any of them has some), then kept when they are
        // made from their row alone.
        let fresh = page
            .items
            .iter()
            .filter_map(|g| match g {
                Got::New(r) => Some(r.clone()),
                Got::Same(..) => None,
            })
            .collect();
        let mut fresh = views(db, fresh)?.into_iter();
        // Sized for the page at once: growing to a 20-post page (about
        // 12 KB) from the usual 4 KB copied it twice over.
        let size: usize = page
            .items
            .iter()
            .map(|g| match g {
                Got::Same(m, _) => m.head.len() + m.tail.len() + 6,
                Got::New(_) => 1024,
            })
            .sum();
        let mut out = Vec::with_capacity(size + 64);
        out.extend_from_slice(b"{\"items\":[");
        for (i, g) in page.items.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match g {
                Got::Same(m, liked) => m.write(liked, &mut out),
                Got::New(r) => {
                    let view = fresh.next().ok_or_else(|| {
                        AppError::Internal(anyhow::anyhow!("a post's view went missing"))
                    })?;
                    if r.self_contained() {
                        let made = Made::new(r, &view)?;
                        made.write(view.liked_by_me, &mut out);
                        self.keep(made);
                    } else {
                        serde_json::to_writer(&mut out, &view)
                            .map_err(|e| AppError::Internal(e.into()))?;
                    }
                }
            }
        }
        out.extend_from_slice(b"],\"next_cursor\":");
        serde_json::to_writer(&mut out, &page.next_cursor)
            .map_err(|e| AppError::Internal(e.into()))?;
        out.push(b'}');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::scratch::seeded;
    use crate::social::post_view::{POST_SELECT, fetch_posts};

    fn sql(limit: i64) -> String {
        crate::db::reader::limited(
            &format!("{POST_SELECT} WHERE p.id < ?2 ORDER BY p.id DESC"),
            limit,
        )
    }

    /// The page as `PostView`s serialized whole, the way every other list
    /// is written: what the shared JSON must equal, byte for byte.
    fn reference(db: &Reader, reader: i64, req: PageReq) -> Vec<u8> {
        let rows = fetch_posts(db, &sql(req.fetch()), [reader, req.before()]).expect("posts");
        serde_json::to_vec(&Page::from_rows(rows, req, |p| p.id)).expect("JSON")
    }

    /// Kept JSON stays within its bytes however many posts are read, and
    /// what is kept is counted right.
    #[test]
    fn kept_json_stays_within_its_bytes() {
        let (_dir, _conn, db) = seeded(
            "INSERT INTO users (id, username, display_name, password_hash, created_at)
               VALUES (1, 'ann', 'Ann', 'x', 5);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
             INSERT INTO posts (author_id, body, visibility, created_at)
               SELECT 1, printf('post %d of some length', i), 'public', i FROM n;",
        );
        let budget = SHARDS * 3_000;
        let shared = PostJson::with_capacity(budget);
        let mut cursor = None;
        loop {
            let req = PageReq { limit: 50, cursor };
            let json = shared
                .page(&db, &sql(req.fetch()), [1, req.before()], req)
                .expect("page");
            let p: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
            match p["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.parse::<Id>().expect("cursor").0),
                None => break,
            }
        }
        let mut total = 0;
        for s in shared.shards.iter() {
            let s = s.read_lock();
            assert_eq!(s.bytes, s.made.values().map(|m| m.weight()).sum::<usize>());
            assert!(s.bytes <= budget / SHARDS, "a shard over its share");
            total += s.made.len();
        }
        assert!(total > 0 && total < 400, "some kept, not all: {total}");
    }

    /// Every change that shows in a post's JSON (its text, counts, edit
    /// time, visibility, its author's names and picture, a like by the
    /// reader, a new link card or mention) shows in the shared JSON at
    /// once, for each reader, on every page: the check against the row
    /// read now leaves no stale copy.
    #[test]
    fn shared_json_is_what_each_reader_would_get_after_every_change() {
        let (_dir, conn, db) = seeded(
            "INSERT INTO users (id, username, display_name, password_hash, created_at)
               VALUES (1, 'ann', 'Ann \"the\" <b>', 'x', 5), (2, 'bob', 'Bob', 'x', 6),
                      (3, 'cat', 'Cat ✓', 'x', 7);
             INSERT INTO posts (author_id, body, visibility, created_at)
               VALUES (1, 'hello \"world\"\n\\ tab\t', 'public', 1000),
                      (2, 'second 💬', 'friends', 2000),
                      (1, 'third', 'public', 3000),
                      (3, 'fourth', 'public', 4000),
                      (2, 'fifth', 'public', 5000);
             INSERT INTO likes VALUES (1, 2, 0), (3, 3, 0);",
        );
        let shared = PostJson::default();
        let check = |what: &str| {
            for reader in 1..=3 {
                for (limit, cursor) in [(20, None), (2, None), (2, Some(4)), (2, Some(2))] {
                    let req = PageReq { limit, cursor };
                    let want = reference(&db, reader, req);
                    // Twice: made, then shared.
                    for round in 0..2 {
                        let got = shared
                            .page(&db, &sql(req.fetch()), [reader, req.before()], req)
                            .expect("page");
                        assert_eq!(
                            String::from_utf8_lossy(&got),
                            String::from_utf8_lossy(&want),
                            "{what}: reader {reader}, limit {limit}, cursor {cursor:?}, round {round}"
                        );
                    }
                }
            }
        };
        check("as seeded");
        let changes = [
            ("a new like", "INSERT INTO likes VALUES (5, 1, 0)"),
            ("an unlike", "DELETE FROM likes WHERE post_id = 1 AND user_id = 2"),
            (
                "an edit",
                "UPDATE posts SET body = 'edited', edited_at = 9000 WHERE id = 3",
            ),
            (
                "a comment",
                "INSERT INTO comments (post_id, author_id, body, created_at) VALUES (4, 2, 'c', 1);
                 UPDATE posts SET comment_count = comment_count + 1 WHERE id = 4",
            ),
            (
                "a visibility change",
                "UPDATE posts SET visibility = 'friends' WHERE id = 1",
            ),
            (
                "a renamed author",
                "UPDATE users SET display_name = 'Ann B.' WHERE id = 1",
            ),
            (
                "a new username",
                "UPDATE users SET username = 'annb' WHERE id = 1",
            ),
            (
                "a new picture",
                "INSERT INTO media (id, owner_id, status, size_bytes, created_at, updated_at)
                   VALUES (70, 3, 'ready', 1, 0, 0);
                 UPDATE users SET avatar_id = 70 WHERE id = 3",
            ),
            (
                "a mention of someone who exists",
                "UPDATE posts SET body = 'hi @bob' WHERE id = 2",
            ),
            (
                "a link card",
                "INSERT INTO link_cards (url, title, fetched_at, ok) VALUES ('https://a.example/', 'A', 0, 1);
                 UPDATE posts SET link_url = 'https://a.example/' WHERE id = 5",
            ),
            ("a deleted post", "DELETE FROM posts WHERE id = 4"),
            (
                "a new post",
                "INSERT INTO posts (author_id, body, visibility, created_at) VALUES (3, 'sixth', 'public', 6000)",
            ),
        ];
        for (what, sql) in changes {
            conn.execute_batch(sql).expect(what);
            check(what);
        }
        // Kept: the posts made from their row alone, and only those.
        shared.forget_all();
        let req = PageReq {
            limit: 20,
            cursor: None,
        };
        shared
            .page(&db, &sql(req.fetch()), [1, req.before()], req)
            .expect("page");
        let kept = |id: i64| shared.kept(id);
        assert!(kept(3) && kept(6), "plain posts are kept");
        assert!(!kept(5), "a post with a link card is made each time");
        assert!(!kept(2), "a post with a mention is made each time");
    }
}
