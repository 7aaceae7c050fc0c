//! `GET /api/jobs/{id}`: a job, for its owner.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::User;
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Path};
use crate::state::AppState;
use crate::store::jobs::{self as queue, JobView};
use kith_core::ids::Id;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_job))
}

#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs",
    params(("id" = Id, Path)),
    responses(
        (status = 200, body = JobView),
        (status = 404, description = "No such job, or not yours", body = ErrorBody),
    ))]
async fn get_job(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Id>,
) -> Result<Json<JobView>, AppError> {
    match queue::get(&state.read, id).await? {
        Some(j) if j.owner_id == Some(user.id.0) => Ok(Json(j)),
        _ => Err(AppError::not_found("job")),
    }
}
