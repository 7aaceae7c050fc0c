//! `/api/conversations`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::items;
use super::store::{self, ConversationView};
use crate::auth::User;
use crate::auth::accounts;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, MAX_PAGE, Page, PageParams, Path, Query};
use crate::state::AppState;
use crate::store::chat::{CreateConversation, MAX_MEMBERS, Opened};
use kith_core::ids::Id;
use kith_core::protocol::Item;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(messages))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    /// Usernames of the other members; all must be your friends.
    pub members: Vec<String>,
    /// Makes it a group even with one other member.
    pub title: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationCreated {
    pub id: Id,
    /// False when an existing direct conversation was returned.
    pub created: bool,
}

#[utoipa::path(post, path = "/api/conversations", tag = "chat",
    request_body = NewConversation,
    responses(
        (status = 201, description = "Created", body = ConversationCreated),
        (status = 200, description = "The existing direct conversation with that friend", body = ConversationCreated),
        (status = 403, description = "A member is not your friend", body = ErrorBody),
        (status = 422, description = "No members, unknown users, too many, or a bad title", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    user: User,
    Json(req): Json<NewConversation>,
) -> Result<impl IntoResponse, AppError> {
    let members = named_members(&state, &req.members).await?;
    let title = req.title.as_deref().map(check_title).transpose()?;
    let Opened { id, created } = state
        .writer
        .run(CreateConversation {
            id: crate::db::keyed::new_id(),
            creator: user.id,
            members,
            title,
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ConversationCreated { id, created })))
}

/// The users `names` name (1 to [`MAX_MEMBERS`] - 1 of them): 422 for an
/// unknown one.
pub(super) async fn named_members(state: &AppState, names: &[String]) -> Result<Vec<Id>, AppError> {
    if names.is_empty() || names.len() >= MAX_MEMBERS {
        return Err(AppError::invalid(format!(
            "members must name 1 to {} users",
            MAX_MEMBERS - 1
        )));
    }
    let mut members = Vec::with_capacity(names.len());
    for name in names {
        let u = accounts::by_username(&state.read, name)
            .await?
            .ok_or_else(|| AppError::invalid(format!("no user named {name:?}")))?;
        members.push(u.id);
    }
    Ok(members)
}

/// A group's title, trimmed: 1 to 100 characters, no control characters.
pub(super) fn check_title(t: &str) -> Result<String, AppError> {
    let t = t.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err(AppError::invalid("title must be 1 to 100 characters"));
    }
    Ok(t.to_string())
}

#[utoipa::path(get, path = "/api/conversations", tag = "chat",
    params(PageParams),
    responses((status = 200, description = "Most recently active first, with unread counts", body = Page<ConversationView>)))]
async fn list(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<ConversationView>>, AppError> {
    let page = p.resolve()?;
    let rows = store::conversations(
        &state.read,
        &state.reader,
        user.id,
        page.before(),
        page.fetch(),
    )
    .await?;
    let more = rows.len() > page.limit as usize;
    let mut rows = rows;
    rows.truncate(page.limit as usize);
    let next_cursor = if more {
        rows.last().map(|(k, _)| k.to_string())
    } else {
        None
    };
    Ok(Json(Page {
        items: rows.into_iter().map(|(_, c)| c).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessagesParams {
    /// Messages after this seq (oldest first): catching up.
    pub after_seq: Option<i64>,
    /// Messages before this seq (the newest of them): scrolling back.
    pub before_seq: Option<i64>,
    /// 1 to 100 (default 50).
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    /// Messages and events, in seq order; each reads as its realtime frame
    /// (`type` is `message` or `event`).
    pub items: Vec<Item>,
    /// Whether more items lie beyond this page in the direction asked.
    pub has_more: bool,
    /// The last item you may read.
    pub last_seq: i64,
}

#[utoipa::path(get, path = "/api/conversations/{id}/messages", tag = "chat",
    params(("id" = Id, Path), MessagesParams),
    responses(
        (status = 200, body = MessagePage),
        (status = 404, description = "No such conversation, or you are not a member", body = ErrorBody),
    ))]
async fn messages(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
    Query(q): Query<MessagesParams>,
) -> Result<Json<MessagePage>, AppError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AppError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    if q.after_seq.is_some_and(|s| s < 0) || q.before_seq.is_some_and(|s| s < 1) {
        return Err(AppError::BadRequest(
            "after_seq must be ≥ 0 and before_seq ≥ 1".into(),
        ));
    }
    let range = items::range(&state.reader, id, user.id)?
        .ok_or_else(|| AppError::not_found("conversation"))?;
    let oldest_first = q.after_seq.is_some();
    let (after, before) = range.clamp(q.after_seq.unwrap_or(0), q.before_seq.unwrap_or(i64::MAX));
    let fetch = i64::from(limit) + 1;
    let mut items = items::page(&state.reader, id, after, before, fetch, oldest_first)?;
    let has_more = items.len() > limit as usize;
    if has_more {
        if oldest_first {
            items.truncate(limit as usize);
        } else {
            items.remove(0);
        }
    }
    let last_seq = match range.upto {
        Some(upto) => upto,
        None => store::last_seq(&state.read, id).await?,
    };
    Ok(Json(MessagePage {
        items,
        has_more,
        last_seq,
    }))
}
