//! Live content: a person looking at a post or the feed sees like and
//! comment counts change, new comments appear, and "N new posts" without
//! reloading (PocketBase and Supabase realtime are the model).
//!
//! A connection says what is on its screen with one `watch` frame (at most
//! [`MAX_WATCHED`] posts, each checked against the one visibility rule as
//! it is watched, and whether it shows the feed). What changes a post is a
//! [`Touch`], published by the node that wrote it: applied to this node's
//! watchers and sent to every other node over the delivery streams, where
//! the same is done. Count updates are coalesced per connection and post:
//! at most one per [`COUNTS_EVERY`]; the latest counts win, by the time
//! they were read at, so a slower node cannot put an older count back.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use tokio::sync::mpsc;

use crate::realtime::Hub;
use crate::realtime::hub::Frame;
use crate::tasks::Tasks;
use kith_core::ids::{Id, now_ms};
use kith_core::protocol::ServerFrame;
use kith_core::sync::Unpoisoned;

/// Posts one connection may watch: a screen shows a few dozen at most; a
/// bound keeps one connection from making every like cost thousands of
/// lookups.
pub use kith_core::protocol::MAX_WATCHED;

/// At most one count update per post per connection this often: a post
/// liked 100 times a second costs a watcher 4 frames a second, and a
/// count that moves four times a second still reads as live.
pub const COUNTS_EVERY: Duration = Duration::from_millis(250);

/// How often coalesced counts are flushed.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// A change to what people may be watching.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Touch {
    /// A post's counts, as read after the write at `at` (ms).
    Counts {
        post: Id,
        likes: i64,
        comments: i64,
        at: i64,
    },
    /// A new or edited comment, as its readers see it (a `CommentView`).
    Comment {
        post: Id,
        author: Id,
        comment: serde_json::Value,
    },
    CommentRemoved {
        post: Id,
        comment: Id,
    },
    /// Edited or deleted: watchers read it again.
    PostChanged {
        post: Id,
    },
    /// A new post: the feed of the author's friends who may see it.
    NewPost {
        post: Id,
        author: Id,
        name: String,
    },
}

struct Watcher {
    user: Id,
    posts: HashSet<Id>,
    feed: bool,
    /// When counts of each post were last sent.
    sent: HashMap<Id, Instant>,
    /// Counts held back by [`COUNTS_EVERY`], and the time they were read.
    held: HashMap<Id, (i64, Frame)>,
}

#[derive(Default)]
struct Inner {
    /// By connection (the hub's number).
    conns: HashMap<u64, Watcher>,
    by_post: HashMap<Id, HashSet<u64>>,
    /// The time of the newest counts seen per watched post.
    newest: HashMap<Id, i64>,
}

/// This node's watchers.
pub struct Live {
    hub: Arc<Hub>,
    inner: Mutex<Inner>,
}

impl Live {
    pub fn new(hub: Arc<Hub>) -> Self {
        Live {
            hub,
            inner: Mutex::default(),
        }
    }

    /// Replaces what connection `conn` of `user` watches.
    pub fn set(&self, conn: u64, user: Id, posts: HashSet<Id>, feed: bool) {
        let mut inner = self.inner.write_lock();
        inner.forget(conn);
        for p in &posts {
            inner.by_post.entry(*p).or_default().insert(conn);
        }
        inner.conns.insert(
            conn,
            Watcher {
                user,
                posts,
                feed,
                sent: HashMap::new(),
                held: HashMap::new(),
            },
        );
    }

    /// The connection closed.
    pub fn forget(&self, conn: u64) {
        self.inner.write_lock().forget(conn);
    }

    fn send(&self, user: Id, conn: u64, frame: &Frame) {
        self.hub.send_to(user, conn, frame);
    }

    fn counts(&self, post: Id, likes: i64, comments: i64, at: i64) {
        let now = Instant::now();
        let frame = ServerFrame::PostCounts {
            post_id: post,
            like_count: likes,
            comment_count: comments,
        }
        .encode();
        let mut out = Vec::new();
        {
            let mut inner = self.inner.write_lock();
            let Some(conns) = inner.by_post.get(&post).cloned() else {
                return;
            };
            let newest = inner.newest.entry(post).or_insert(at);
            if at < *newest {
                return;
            }
            *newest = at;
            for c in conns {
                let Some(w) = inner.conns.get_mut(&c) else {
                    continue;
                };
                let due = w
                    .sent
                    .get(&post)
                    .is_none_or(|t| now.duration_since(*t) >= COUNTS_EVERY);
                if due {
                    w.sent.insert(post, now);
                    w.held.remove(&post);
                    out.push((w.user, c));
                } else {
                    w.held.insert(post, (at, frame.clone()));
                }
            }
        }
        for (user, conn) in out {
            self.send(user, conn, &frame);
        }
    }

    /// Sends the counts held back whose window has passed.
    pub fn flush(&self) {
        let now = Instant::now();
        let mut out = Vec::new();
        {
            let mut inner = self.inner.write_lock();
            for (c, w) in inner.conns.iter_mut() {
                let due: Vec<Id> = w
                    .held
                    .keys()
                    .filter(|p| {
                        w.sent
                            .get(p)
                            .is_none_or(|t| now.duration_since(*t) >= COUNTS_EVERY)
                    })
                    .copied()
                    .collect();
                for p in due {
                    if let Some((_, frame)) = w.held.remove(&p) {
                        w.sent.insert(p, now);
                        out.push((w.user, *c, frame));
                    }
                }
            }
        }
        for (user, conn, frame) in out {
            self.send(user, conn, &frame);
        }
    }

    /// (user, conn) of the watchers of `post`.
    fn watching(&self, post: Id) -> Vec<(Id, u64)> {
        let inner = self.inner.read_lock();
        inner
            .by_post
            .get(&post)
            .map(|conns| {
                conns
                    .iter()
                    .filter_map(|c| inner.conns.get(c).map(|w| (w.user, *c)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// (user, conn) of the connections showing a feed.
    fn feed_watchers(&self) -> Vec<(Id, u64)> {
        let inner = self.inner.read_lock();
        inner
            .conns
            .iter()
            .filter(|(_, w)| w.feed)
            .map(|(c, w)| (w.user, *c))
            .collect()
    }
}

impl Inner {
    fn forget(&mut self, conn: u64) {
        let Some(w) = self.conns.remove(&conn) else {
            return;
        };
        for p in w.posts {
            if let Some(set) = self.by_post.get_mut(&p) {
                set.remove(&conn);
                if set.is_empty() {
                    self.by_post.remove(&p);
                    self.newest.remove(&p);
                }
            }
        }
    }
}

/// A post's counts now, as a touch; None once it is gone.
pub async fn counts(pool: &SqlitePool, post: Id) -> Result<Option<Touch>, sqlx::Error> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT like_count, comment_count FROM posts WHERE id = ?")
            .bind(post.0)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(likes, comments)| Touch::Counts {
        post,
        likes,
        comments,
        at: now_ms(),
    }))
}

/// What applying a touch uses of its node. Cheap to clone.
#[derive(Clone)]
pub struct Host {
    pub read: SqlitePool,
    pub live: Arc<Live>,
}

/// Users who must not see `author`'s content: a block either way.
async fn blocked_with(pool: &SqlitePool, author: Id) -> Result<HashSet<Id>, sqlx::Error> {
    let rows: Vec<i64> = sqlx::query_scalar(
        "SELECT blocked_id FROM blocks WHERE blocker_id = ?1
         UNION SELECT blocker_id FROM blocks WHERE blocked_id = ?1",
    )
    .bind(author.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Id).collect())
}

/// Applies `touch` to this node's watchers.
pub async fn apply(host: &Host, touch: Touch) {
    let live = &host.live;
    match touch {
        Touch::Counts {
            post,
            likes,
            comments,
            at,
        } => live.counts(post, likes, comments, at),
        Touch::Comment {
            post,
            author,
            comment,
        } => {
            let watching = live.watching(post);
            if watching.is_empty() {
                return;
            }
            let apart = match blocked_with(&host.read, author).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "reading blocks for a live comment");
                    return;
                }
            };
            let frame = ServerFrame::Comment {
                post_id: post,
                comment,
            }
            .encode();
            for (user, conn) in watching {
                if !apart.contains(&user) {
                    live.send(user, conn, &frame);
                }
            }
        }
        Touch::CommentRemoved { post, comment } => {
            let frame = ServerFrame::CommentRemoved {
                post_id: post,
                comment_id: comment,
            }
            .encode();
            for (user, conn) in live.watching(post) {
                live.send(user, conn, &frame);
            }
        }
        Touch::PostChanged { post } => {
            let frame = ServerFrame::PostChanged { post_id: post }.encode();
            for (user, conn) in live.watching(post) {
                live.send(user, conn, &frame);
            }
        }
        Touch::NewPost { post, author, name } => {
            let watchers = live.feed_watchers();
            if watchers.is_empty() {
                return;
            }
            // The feed is friends' posts (src/social/feed.rs); a friend
            // may always see them, but not across a mute.
            let friends: Result<Vec<i64>, _> = sqlx::query_scalar(
                "SELECT f.friend_id FROM friendships f WHERE f.user_id = ?1
                   AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.muter_id = f.friend_id AND m.muted_id = ?1)",
            )
            .bind(author.0)
            .fetch_all(&host.read)
            .await;
            let friends: HashSet<Id> = match friends {
                Ok(f) => f.into_iter().map(Id).collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "reading friends for a live post");
                    return;
                }
            };
            let frame = ServerFrame::FeedPost {
                post_id: post,
                author: name,
            }
            .encode();
            for (user, conn) in watchers {
                if friends.contains(&user) {
                    live.send(user, conn, &frame);
                }
            }
        }
    }
}

/// Applies touches other nodes publish, and flushes held counts, until the
/// node stops.
pub async fn run(host: Host, remote: mpsc::UnboundedReceiver<serde_json::Value>, tasks: Tasks) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // A single node has no other nodes: its sender is gone from the start.
    let mut remote = Some(remote);
    loop {
        tokio::select! {
            _ = tick.tick() => host.live.flush(),
            t = async { remote.as_mut()?.recv().await }, if remote.is_some() => match t {
                Some(v) => match serde_json::from_value::<Touch>(v) {
                    Ok(t) => apply(&host, t).await,
                    // A newer node's kind of touch: nothing to show here.
                    Err(e) => tracing::debug!(error = %e, "ignoring a touch"),
                },
                None => remote = None,
            },
            _ = tasks.stopping() => return,
        }
    }
}
