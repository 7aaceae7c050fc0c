//! `#tag` pages and the tags trending in public posts.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use std::sync::LazyLock;

use super::post_view::{POST_SELECT, PostView, fetch_posts};
use crate::auth::User;
use crate::db::Writer;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, Path, Query};
use crate::jobs::job::{JobCtx, JobError, JobKind};
use crate::state::AppState;
use crate::store::tags::{BackfillTags, TAGS_JOB};
use crate::store::visibility::VISIBLE;
use kith_core::ids::{Id, now_ms};
use kith_core::text::is_tag;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(trending))
        .routes(routes!(tagged))
}

/// How far back "trending" looks.
pub const TRENDING_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// How many trending tags are listed.
pub const TRENDING: i64 = 10;

#[utoipa::path(get, path = "/api/tags/{tag}", tag = "posts",
    params(("tag" = String, Path, description = "Without `#`; letters, digits and `_`"), PageParams),
    responses(
        (status = 200, description = "Posts with the tag you may see, newest first", body = Page<PostView>),
        (status = 422, description = "Not a tag, or a bad page", body = ErrorBody),
    ))]
async fn tagged(
    State(state): State<AppState>,
    user: User,
    Path(tag): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<PostView>>, AppError> {
    if !is_tag(&tag) {
        return Err(AppError::invalid(
            "a tag is 1 to 50 letters, digits or '_', not only digits",
        ));
    }
    let page = p.resolve()?;
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{POST_SELECT} JOIN post_tags t ON t.post_id = p.id \
             WHERE t.tag = ?2 AND p.id < ?3 AND {VISIBLE} ORDER BY p.id DESC"
        )
    });
    let params = libsql::params![user.id.0, tag.to_lowercase(), page.before()];
    let sql = crate::db::reader::limited(&SQL, page.fetch());
    let posts = fetch_posts(&state.reader, &sql, params)?;
    Ok(Json(Page::from_rows(posts, page, |p| p.id)))
}

#[derive(Serialize, ToSchema)]
pub struct TrendingTag {
    pub tag: String,
    /// Public posts with it in the last 24 hours.
    pub posts: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Trending {
    /// Most used first; of equals, the most recently used first.
    pub items: Vec<TrendingTag>,
}

#[utoipa::path(get, path = "/api/tags/trending", tag = "posts",
    responses((status = 200, description = "The tags most used in public posts over the last 24 hours", body = Trending)))]
async fn trending(State(state): State<AppState>, _user: User) -> Result<Json<Trending>, AppError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT tag, COUNT(*) AS n FROM post_tags
         WHERE public <> 0 AND created_at > ?
         GROUP BY tag ORDER BY n DESC, max(created_at) DESC LIMIT ?",
    )
    .bind(now_ms() - TRENDING_WINDOW_MS)
    .bind(TRENDING)
    .fetch_all(&state.read)
    .await?;
    Ok(Json(Trending {
        items: rows
            .into_iter()
            .map(|(tag, posts)| TrendingTag { tag, posts })
            .collect(),
    }))
}

/// One step of the tag backfill ([`BackfillTags`]): a database from before
/// tags were kept gets one queued by its schema step, and each full step
/// queues the next in its own transaction, so a restart resumes where the
/// last committed step ended.
pub struct TagsBackfillJob {
    pub writer: Writer,
}

#[derive(serde::Deserialize)]
struct Step {
    after: Id,
}

#[async_trait::async_trait]
impl JobKind for TagsBackfillJob {
    fn name(&self) -> &'static str {
        TAGS_JOB
    }

    async fn run(&self, ctx: &JobCtx) -> Result<(), JobError> {
        let Step { after } = serde_json::from_str(&ctx.job.payload)
            .map_err(|e| JobError::Permanent(format!("payload: {e}")))?;
        self.writer
            .run(BackfillTags { after })
            .await
            .map_err(|e| JobError::Retryable(e.to_string()))?;
        Ok(())
    }
}
