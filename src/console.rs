//! The admin console's API, `/api/admin/*`: for admins only (the
//! [`Admin`](crate::auth::Admin) extractor). Every change goes through the
//! writer, so the console works on any node, and lands in the audit log.

mod cluster;
mod overview;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(overview::router())
        .merge(cluster::router())
}
