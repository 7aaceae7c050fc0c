//! The home feed: the reader's own posts and their friends' posts, newest
//! first.
//!
//! Fan-out on read: one range scan of `posts_author` per author (the reader
//! and each friend), merged by id. That costs O(friends) index probes per
//! page, with no feed table to keep in step on every post; a fan-out-on-write
//! table would be the next step for users with thousands of friends.

use axum::extract::State;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::posts::{POST_SELECT, PostView, fetch_posts};
use crate::auth::User;
use crate::db::reader::{ReadError, Reader, limited};
use crate::error::AppError;
use crate::http::{Json, Page, PageParams, PageReq, Query};
use crate::state::AppState;
use kith_core::ids::Id;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(feed))
}

pub fn page(db: &Reader, reader: Id, page: PageReq) -> Result<Page<PostView>, ReadError> {
    // Friends see both public and friends-only posts of each other, so no
    // visibility filter is needed beyond the author set; muted friends
    // leave it (their posts stay on their profile).
    //
    // The page's ids come first, from `posts_author` alone (a covering
    // index: ids, no rows), merged and cut to the page; only then are the
    // page's rows read and their likes and authors joined. Joining before
    // the cut did that work for every post of every author in range and
    // sorted whole rows: 44 rows for a page of 20 in the wrk benchmark,
    // more the more each friend posts.
    const IDS: &str = "SELECT id FROM posts WHERE author_id IN \
           (SELECT friend_id FROM friendships WHERE user_id = ?1 \
              AND friend_id NOT IN (SELECT muted_id FROM mutes WHERE muter_id = ?1) \
            UNION ALL SELECT ?1) \
         AND id < ?2 ORDER BY id DESC";
    let ids = limited(IDS, page.fetch());
    let sql = format!("{POST_SELECT} WHERE p.id IN ({ids}) ORDER BY p.id DESC");
    let params = [reader.0, page.before()];
    Ok(Page::from_rows(fetch_posts(db, &sql, params)?, page, |p| {
        p.id
    }))
}

#[utoipa::path(get, path = "/api/feed", tag = "posts",
    params(PageParams),
    responses((status = 200, description = "Your posts and your friends' posts, newest first", body = Page<PostView>)))]
async fn feed(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<PostView>>, AppError> {
    Ok(Json(page(&state.reader, user.id, p.resolve()?)?))
}
