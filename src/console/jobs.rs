//! The job queue in the console: jobs by status and kind, with progress;
//! retry and cancel.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, Path, Query};
use crate::state::AppState;
use crate::store::audit::Audited;
use crate::store::jobs::{self as queue, Cancel, JobView, Retry};
use kith_core::ids::Id;
use kith_core::job_state::Status;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(retry))
        .routes(routes!(cancel))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// queued, running, succeeded, failed, dead or cancelled; all by default.
    pub status: Option<String>,
    /// Only jobs of this kind (video, image, mail, …).
    pub kind: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/admin/jobs", tag = "admin",
    params(JobQuery),
    responses(
        (status = 200, description = "Jobs, newest first", body = Page<JobView>),
        (status = 400, description = "A bad status, kind or cursor", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<JobQuery>,
) -> Result<Json<Page<JobView>>, AppError> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    if let Some(s) = &q.status
        && Status::parse(s).is_none()
    {
        return Err(AppError::BadRequest(
            "status must be queued, running, succeeded, failed, dead or cancelled".into(),
        ));
    }
    if q.kind.as_ref().is_some_and(|k| k.len() > 64) {
        return Err(AppError::BadRequest(
            "kind must be at most 64 characters".into(),
        ));
    }
    let items = queue::page(
        &state.read,
        q.status.as_deref(),
        q.kind.as_deref(),
        page.before(),
        page.fetch(),
    )
    .await?;
    Ok(Json(Page::from_rows(items, page, |j: &JobView| j.id)))
}

async fn done(state: &AppState, id: Id) -> Result<Json<JobView>, AppError> {
    queue::get(&state.read, id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found("job"))
}

#[utoipa::path(post, path = "/api/admin/jobs/{id}/retry", tag = "admin",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "Queued again", body = JobView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not failed, dead or cancelled", body = ErrorBody),
    ))]
async fn retry(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<Id>,
) -> Result<Json<JobView>, AppError> {
    state
        .writer
        .run(Audited {
            actor: admin.id,
            cmd: Retry { id },
        })
        .await?;
    state.wake_workers.notify_waiters();
    done(&state, id).await
}

#[utoipa::path(post, path = "/api/admin/jobs/{id}/cancel", tag = "admin",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "Cancelled (a running one is stopped by its worker)", body = JobView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Finished already", body = ErrorBody),
    ))]
async fn cancel(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<Id>,
) -> Result<Json<JobView>, AppError> {
    state
        .writer
        .run(Audited {
            actor: admin.id,
            cmd: Cancel { id, user: None },
        })
        .await?;
    done(&state, id).await
}
