//! The community's own tools: invite codes (`/api/invites`) and reports
//! (`/api/reports`). Their admin side is in `crate::console`.

pub mod invites;
pub mod reports;

use utoipa_axum::router::OpenApiRouter;

pub use invites::{check_invite, invite_error};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(invites::router())
        .merge(reports::router())
}
