//! Reports in the console: the open queue and the resolved, and resolving
//! one (dismiss, remove the content, ban its author).

use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::community::reports::{self, ReportView};
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, Path, Query};
use crate::notify::{self, Host};
use crate::state::AppState;
use crate::store::audit::Audited;
use crate::store::reports::{Action, ResolveReport};
use kith_core::ids::Id;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(resolve))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// open (default) or resolved.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/admin/reports", tag = "admin",
    params(ReportQuery),
    responses(
        (status = 200, description = "Reports, newest first", body = Page<ReportView>),
        (status = 400, description = "A bad status or cursor", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<ReportQuery>,
) -> Result<Json<Page<ReportView>>, AppError> {
    let status = q.status.unwrap_or_else(|| "open".into());
    if status != "open" && status != "resolved" {
        return Err(AppError::BadRequest(
            "status must be open or resolved".into(),
        ));
    }
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    Ok(Json(
        reports::page(&state.read, "r.status = ?1", &status, page).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// dismiss, remove (a post or comment) or ban (its author; a post or
    /// comment is removed too).
    pub action: Action,
}

#[utoipa::path(post, path = "/api/admin/reports/{id}/resolve", tag = "admin",
    params(("id" = Id, Path)),
    request_body = Resolution,
    responses(
        (status = 200, description = "Resolved, with every other open report of the same thing; the reporters are told", body = ReportView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such report", body = ErrorBody),
        (status = 409, description = "Already resolved", body = ErrorBody),
        (status = 422, description = "Removing what cannot be removed (a user, a message)", body = ErrorBody),
    ))]
async fn resolve(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<Id>,
    Json(req): Json<Resolution>,
) -> Result<Json<ReportView>, AppError> {
    let told = state
        .writer
        .run(Audited {
            actor: admin.id,
            cmd: ResolveReport {
                report: id,
                admin: admin.id,
                action: req.action,
            },
        })
        .await?;
    let report = reports::one(&state.read, id)
        .await?
        .ok_or_else(|| AppError::not_found("report"))?;
    // A ban's sessions ended in its transaction; every node's watcher
    // closes the author's sockets, telling them why.
    if req.action == Action::Ban
        && let Some(author) = &report.author
    {
        state.banned(author.id).await;
    }
    let host = Host::of(&state);
    for t in told {
        notify::push(&host, t.notification).await;
    }
    Ok(Json(report))
}
