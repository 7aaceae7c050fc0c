//! Search over people and posts with SQLite FTS5.
//!
//! User text never reaches FTS5's query syntax: it is split into words and
//! each word becomes a quoted prefix term (`"word"*`), with any `"` doubled,
//! so operators, column filters and parentheses in the input are just text.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use std::sync::LazyLock;

use super::post_view::{POST_SELECT, PostView, fetch_posts};
use crate::auth::User;
use crate::auth::accounts::UserView;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Query};
use crate::state::AppState;
use crate::store::visibility::{NOT_BLOCKED_BY, VISIBLE};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

const MAX_QUERY_CHARS: usize = 200;
const MAX_TERMS: usize = 16;

/// Turns free text into a safe FTS5 query: every word a quoted prefix
/// term, all required. `None` when nothing searchable is left.
///
/// Control characters separate words too: FTS5 reads its query as a C
/// string, so a NUL inside a term would cut the query short (an
/// unterminated string: a syntax error).
pub fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(MAX_TERMS)
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find; each matches as a prefix.
    pub q: String,
    /// Results per kind, 1 to 100 (default 20).
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    pub users: Vec<UserView>,
    /// Only posts visible to you.
    pub posts: Vec<PostView>,
}

#[utoipa::path(get, path = "/api/search", tag = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "Best matches first", body = SearchResults),
        (status = 400, description = "Missing, empty or too long query", body = ErrorBody),
    ))]
async fn search(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<SearchParams>,
) -> Result<Json<SearchResults>, AppError> {
    let limit = p.limit.unwrap_or(20);
    if !(1..=crate::http::MAX_PAGE).contains(&limit) {
        return Err(AppError::BadRequest(
            "limit must be between 1 and 100".into(),
        ));
    }
    if p.q.trim().is_empty() || p.q.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::BadRequest(format!(
            "q must be 1 to {MAX_QUERY_CHARS} characters"
        )));
    }
    let Some(q) = fts_query(&p.q) else {
        return Ok(Json(SearchResults {
            users: vec![],
            posts: vec![],
        }));
    };
    let users: Vec<UserView> = sqlx::query_as(&format!(
        "SELECT u.id, u.username, u.display_name, u.created_at, u.avatar_id \
         FROM users_fts JOIN users u ON u.id = users_fts.rowid \
         WHERE users_fts MATCH ?2 AND {NOT_BLOCKED_BY} ORDER BY users_fts.rank LIMIT ?3"
    ))
    .bind(user.id.0)
    .bind(&q)
    .bind(i64::from(limit))
    .fetch_all(&state.read)
    .await?;
    static POSTS_SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{POST_SELECT} JOIN posts_fts ON posts_fts.rowid = p.id \
             WHERE posts_fts MATCH ?2 AND {VISIBLE} ORDER BY posts_fts.rank"
        )
    });
    // A full-text match may scan many rows: off the worker threads.
    let params = libsql::params![user.id.0, q];
    let sql = crate::db::reader::limited(&POSTS_SQL, i64::from(limit));
    let posts = state
        .reader
        .blocking(move |db| fetch_posts(db, &sql, params))
        .await?;
    Ok(Json(SearchResults { users, posts }))
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn quotes_every_term() {
        assert_eq!(
            fts_query("hello world").as_deref(),
            Some(r#""hello"* "world"*"#)
        );
        assert_eq!(
            fts_query(r#"a" OR body:x NEAR("#).as_deref(),
            Some(r#""a"""* "OR"* "body:x"* "NEAR("*"#)
        );
        assert_eq!(fts_query("  !!! ()  "), None);
        assert_eq!(fts_query("a\u{0}b").as_deref(), Some(r#""a"* "b"*"#));
        assert_eq!(fts_query("\u{0}\u{1}"), None);
        assert_eq!(fts_query(""), None);
    }
}
