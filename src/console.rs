//! The admin console's API, `/api/admin/*`: for admins only (the
//! [`Admin`](crate::auth::Admin) extractor). Every change goes through the
//! writer, so the console works on any node, and lands in the audit log.

mod audit;
mod cluster;
mod jobs;
mod overview;
mod reports;
mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(overview::router())
        .merge(cluster::router())
        .merge(users::router())
        .merge(reports::router())
        .merge(jobs::router())
        .merge(audit::router())
}
