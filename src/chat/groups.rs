//! `/api/conversations/{id}` changes: renaming a group, adding and removing
//! members, roles, leaving, and muting. The rules are the writer's
//! ([`crate::store::chat_groups`]); this tells every member, on every
//! node, the events a change made.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::items;
use super::routes::{check_title, named_members};
use super::store::{self, ConversationView};
use crate::auth::User;
use crate::auth::accounts;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Path};
use crate::state::AppState;
use crate::store::chat_groups::{AddMembers, GroupChange, RemoveMember, Rename, SetMuted, SetRole};
use kith_core::ids::Id;
use kith_core::protocol::Role;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_conversation, rename))
        .routes(routes!(add_members))
        .routes(routes!(remove_member))
        .routes(routes!(set_role))
        .routes(routes!(mute))
}

/// Sends the events of `change` to the conversation's members, and to the
/// member it removed (who sees their removal, then nothing more).
pub async fn announce(state: &AppState, conversation: Id, change: &GroupChange) {
    if change.events.is_empty() {
        return;
    }
    let mut to = match store::member_ids(&state.reader, conversation) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "reading members to announce a change");
            return;
        }
    };
    to.extend(change.gone);
    for e in &change.events {
        match items::at(&state.reader, conversation, e.seq) {
            Ok(Some(item)) => {
                state.fan_out(&to, &item.into_frame().encode(), None).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading an event to announce"),
        }
    }
}

async fn user_id(state: &AppState, name: &str) -> Result<Id, AppError> {
    Ok(accounts::by_username(&state.read, name)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?
        .id)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    /// The group's new title.
    pub title: String,
}

#[utoipa::path(patch, path = "/api/conversations/{id}", tag = "chat",
    params(("id" = Id, Path)),
    request_body = GroupPatch,
    responses(
        (status = 204, description = "Renamed (or already so named)"),
        (status = 403, description = "Not the owner or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A bad title, or a direct conversation", body = ErrorBody),
    ))]
async fn rename(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
    Json(req): Json<GroupPatch>,
) -> Result<StatusCode, AppError> {
    let title = check_title(&req.title)?;
    let change = state
        .writer
        .run(Rename {
            conversation: id,
            actor: user.id,
            title,
        })
        .await?;
    announce(&state, id, &change).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMembers {
    /// Usernames of friends of yours.
    pub members: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MembersAdded {
    /// The ones who were not members already.
    pub added: Vec<String>,
}

#[utoipa::path(post, path = "/api/conversations/{id}/members", tag = "chat",
    params(("id" = Id, Path)),
    request_body = NewMembers,
    responses(
        (status = 200, body = MembersAdded),
        (status = 403, description = "Not the owner or an admin, or not your friend", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "No one named, an unknown user, too many, or a direct conversation", body = ErrorBody),
    ))]
async fn add_members(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
    Json(req): Json<NewMembers>,
) -> Result<Json<MembersAdded>, AppError> {
    let members = named_members(&state, &req.members).await?;
    let change = state
        .writer
        .run(AddMembers {
            conversation: id,
            actor: user.id,
            members,
        })
        .await?;
    announce(&state, id, &change).await;
    Ok(Json(MembersAdded {
        added: change.added,
    }))
}

#[utoipa::path(delete, path = "/api/conversations/{id}/members/{username}", tag = "chat",
    params(("id" = Id, Path), ("username" = String, Path)),
    responses(
        (status = 204, description = "Removed, or left when it is your own name"),
        (status = 403, description = "Not allowed to remove them", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A direct conversation", body = ErrorBody),
    ))]
async fn remove_member(
    State(state): State<AppState>,
    user: User,
    Path((id, name)): Path<(Id, String)>,
) -> Result<StatusCode, AppError> {
    let target = user_id(&state, &name).await?;
    let change = state
        .writer
        .run(RemoveMember {
            conversation: id,
            actor: user.id,
            user: target,
        })
        .await?;
    announce(&state, id, &change).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// `admin` or `member`; `owner` hands the group over (you become an
    /// admin).
    pub role: Role,
}

#[utoipa::path(put, path = "/api/conversations/{id}/members/{username}/role", tag = "chat",
    params(("id" = Id, Path), ("username" = String, Path)),
    request_body = RoleChange,
    responses(
        (status = 204, description = "Changed (or already so)"),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn set_role(
    State(state): State<AppState>,
    user: User,
    Path((id, name)): Path<(Id, String)>,
    Json(req): Json<RoleChange>,
) -> Result<StatusCode, AppError> {
    let target = user_id(&state, &name).await?;
    let change = state
        .writer
        .run(SetRole {
            conversation: id,
            actor: user.id,
            user: target,
            role: req.role,
        })
        .await?;
    announce(&state, id, &change).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mute {
    pub muted: bool,
}

#[utoipa::path(put, path = "/api/conversations/{id}/mute", tag = "chat",
    params(("id" = Id, Path)),
    request_body = Mute,
    responses(
        (status = 204, description = "Muted or unmuted"),
        (status = 403, description = "You left this conversation", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn mute(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
    Json(req): Json<Mute>,
) -> Result<StatusCode, AppError> {
    state
        .writer
        .run(SetMuted {
            conversation: id,
            user: user.id,
            muted: req.muted,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/conversations/{id}", tag = "chat",
    params(("id" = Id, Path)),
    responses(
        (status = 200, body = ConversationView),
        (status = 404, description = "No such conversation, or you were never in it", body = ErrorBody),
    ))]
async fn get_conversation(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<Json<ConversationView>, AppError> {
    store::conversation(&state.read, &state.reader, user.id, id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found("conversation"))
}
