//! The audit log in the console: who did what to what, and when.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::auth::accounts::{Timestamp, USER_COLUMNS, UserView};
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, Query};
use crate::state::AppState;
use kith_core::ids::Id;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Id,
    /// The admin; null once their account is gone.
    pub actor: Option<UserView>,
    /// `user.ban`, `report.resolve`, `job.retry`, …
    pub action: String,
    /// `user:<id>`, `report:<id>`, …
    pub target: String,
    pub detail: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

#[utoipa::path(get, path = "/api/admin/audit", tag = "admin",
    params(PageParams),
    responses(
        (status = 200, description = "Admin actions, newest first", body = Page<AuditEntry>),
        (status = 400, description = "A bad cursor", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<AuditEntry>>, AppError> {
    let page = p.resolve()?;
    let rows: Vec<(i64, Option<i64>, String, String, String, i64)> = sqlx::query_as(
        "SELECT id, actor_id, action, target, detail, at_ms FROM audit_log
         WHERE id < ? ORDER BY id DESC LIMIT ?",
    )
    .bind(page.before())
    .bind(page.fetch())
    .fetch_all(&state.read)
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for (id, actor, action, target, detail, at) in rows {
        let actor: Option<UserView> = match actor {
            Some(a) => {
                sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
                    .bind(a)
                    .fetch_optional(&state.read)
                    .await?
            }
            None => None,
        };
        items.push(AuditEntry {
            id: Id(id),
            actor,
            action,
            target,
            detail,
            at: Timestamp(at),
        });
    }
    Ok(Json(Page::from_rows(items, page, |e: &AuditEntry| e.id)))
}
