//! Notifications (`notifications`): stored, listed, marked read, and pushed
//! live to the user's connections.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, LazyLock};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::User;
use crate::auth::accounts::{Timestamp, UserView};
use crate::db::Writer;
use crate::db::reader::{ReadError, Reader, limited};
use crate::error::{AppError, ErrorBody};
use crate::fanout::Fanout;
use crate::http::{Json, Page, PageParams, Query};
use crate::state::AppState;
pub use crate::store::notifications::Kind;
use crate::store::notifications::{MarkNotificationsRead, New, Notify};
use kith_core::ids::Id;
use kith_core::protocol::ServerFrame;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(mark_read))
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: Id,
    pub kind: Kind,
    /// Who caused it.
    pub actor: Option<UserView>,
    /// The post, friend request or conversation it is about.
    pub subject_id: Option<Id>,
    /// For likes and comments: the post, quoted; null once it is gone or
    /// when it has no text.
    pub post: Option<Excerpt>,
    /// For comments: the comment, quoted; null once it is deleted.
    pub comment: Option<Excerpt>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub read: bool,
}

/// A post or comment named in a notification: enough to recognise it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Excerpt {
    pub id: Id,
    /// Its text on one line, at most 80 characters.
    pub excerpt: String,
}

/// Characters of a quoted post or comment: one line of a phone's list.
const EXCERPT_CHARS: usize = 80;

impl Excerpt {
    fn of(id: Option<i64>, body: Option<String>) -> Option<Excerpt> {
        let (id, excerpt) = (id?, kith_core::text::excerpt(&body?, EXCERPT_CHARS));
        (!excerpt.is_empty()).then_some(Excerpt {
            id: Id(id),
            excerpt,
        })
    }
}

struct Row {
    id: i64,
    kind: String,
    subject_id: Option<i64>,
    p_id: Option<i64>,
    p_body: Option<String>,
    c_id: Option<i64>,
    c_body: Option<String>,
    created_at: i64,
    read_at: Option<i64>,
    a_id: Option<i64>,
    a_username: Option<String>,
    a_display_name: Option<String>,
    a_created_at: Option<i64>,
    a_avatar_id: Option<i64>,
}

impl Row {
    /// By column position, as [`SELECT`] lists them.
    fn read(r: &libsql::Row) -> libsql::Result<Row> {
        Row::read_at(r, 0)
    }

    /// [`Row::read`] for [`SELECT`]'s columns from column `at` on.
    fn read_at(r: &libsql::Row, at: i32) -> libsql::Result<Row> {
        Ok(Row {
            id: r.get(at)?,
            kind: r.get(at + 1)?,
            subject_id: r.get(at + 2)?,
            created_at: r.get(at + 3)?,
            read_at: r.get(at + 4)?,
            p_id: r.get(at + 5)?,
            p_body: r.get(at + 6)?,
            c_id: r.get(at + 7)?,
            c_body: r.get(at + 8)?,
            a_id: r.get(at + 9)?,
            a_username: r.get(at + 10)?,
            a_display_name: r.get(at + 11)?,
            a_created_at: r.get(at + 12)?,
            a_avatar_id: r.get(at + 13)?,
        })
    }
}

impl From<Row> for NotificationView {
    fn from(r: Row) -> Self {
        let kind = match r.kind.as_str() {
            "friend_request" => Kind::FriendRequest,
            "friend_accepted" => Kind::FriendAccepted,
            "like" => Kind::Like,
            "comment" => Kind::Comment,
            "report_resolved" => Kind::ReportResolved,
            "mention" => Kind::Mention,
            "chat_mention" => Kind::ChatMention,
            _ => Kind::Message,
        };
        let actor = match (r.a_id, r.a_username, r.a_display_name, r.a_created_at) {
            (Some(id), Some(username), Some(display_name), Some(c)) => {
                Some(UserView::new(id, username, display_name, c, r.a_avatar_id))
            }
            _ => None,
        };
        NotificationView {
            id: Id(r.id),
            kind,
            actor,
            subject_id: r.subject_id.map(Id),
            post: Excerpt::of(r.p_id, r.p_body),
            comment: Excerpt::of(r.c_id, r.c_body),
            created_at: Timestamp(r.created_at),
            read: r.read_at.is_some(),
        }
    }
}

// Bodies are cut in SQL first (an excerpt needs far fewer than 400
// characters even after whitespace is folded) so a long post is not read
// whole for every row of the list.
const SELECT: &str = concat!(
    "SELECT n.id, n.kind, n.subject_id, n.created_at, n.read_at, ",
    "p.id AS p_id, substr(p.body, 1, 400) AS p_body, ",
    "c.id AS c_id, substr(c.body, 1, 400) AS c_body, ",
    crate::author_columns!(),
    " FROM notifications n LEFT JOIN users a ON a.id = n.actor_id",
    " LEFT JOIN posts p ON p.id = n.subject_id AND n.kind IN ('like', 'comment', 'mention')",
    " LEFT JOIN comments c ON c.id = n.object_id AND n.kind IN ('comment', 'mention')"
);

pub fn by_id(db: &Reader, id: Id) -> Result<Option<NotificationView>, ReadError> {
    static SQL: LazyLock<String> = LazyLock::new(|| format!("{SELECT} WHERE n.id = ?"));
    Ok(db
        .first(&SQL, [id.0], Row::read)?
        .map(NotificationView::from))
}

/// What storing and pushing a notification uses of its node.
#[derive(Clone)]
pub struct Host {
    pub reader: Arc<Reader>,
    pub writer: Writer,
    pub fanout: Fanout,
    /// Wakes this node's idle job workers.
    pub wake_workers: Arc<tokio::sync::Notify>,
}

impl Host {
    pub fn of(state: &AppState) -> Host {
        Host {
            reader: state.reader.clone(),
            writer: state.writer.clone(),
            fanout: state.fanout.clone(),
            wake_workers: state.wake_workers.clone(),
        }
    }
}

/// Pushes stored notification `id`, if it exists, to its user's sockets on
/// every node.
pub async fn push(state: &Host, id: Id) {
    // Whose it is, and whether they have a push subscription: its push
    // jobs (queued with it) are then due now, and idle workers poll only
    // every 500 ms, which measured as most of the time from an event to its
    // push (bench `--only push`). Only for a user with a subscription, so
    // the many without cost no wake-up and no claim.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let columns = SELECT.strip_prefix("SELECT ").unwrap_or(SELECT);
        format!(
            "SELECT n.user_id, \
               EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = n.user_id), \
               {columns} WHERE n.id = ?"
        )
    });
    let found = state.reader.first(&SQL, [id.0], |r| {
        let user: i64 = r.get(0)?;
        let subscribed: bool = r.get(1)?;
        Ok((user, subscribed, Row::read_at(r, 2)?))
    });
    let (user, subscribed, row) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reading a notification to push");
            return;
        }
    };
    if subscribed {
        state.wake_workers.notify_waiters();
    }
    let n = NotificationView::from(row);
    // Stored read: the app channel is off for its kind.
    if !n.read
        && let Ok(value) = serde_json::to_value(&n)
    {
        state
            .fanout
            .push(Id(user), &ServerFrame::Notification(value).encode())
            .await;
    }
}

/// Pushes notifications a command stored (the people a post named), in
/// the background.
pub fn push_all(state: &AppState, ids: Vec<Id>) {
    if ids.is_empty() {
        return;
    }
    let host = Host::of(state);
    state.tasks.spawn(async move {
        for id in ids {
            push(&host, id).await;
        }
    });
}

/// `notify` in the background, so that the request that caused it does not
/// wait for it.
pub fn spawn(state: &AppState, user: Id, kind: Kind, actor: Id, subject: Id) {
    spawn_about(state, user, kind, actor, subject, None);
}

/// [`spawn`] for a notification about `object` inside `subject` (the
/// comment on the post).
pub fn spawn_about(
    state: &AppState,
    user: Id,
    kind: Kind,
    actor: Id,
    subject: Id,
    object: Option<Id>,
) {
    let host = Host::of(state);
    let cmd = Notify(New {
        id: crate::db::keyed::new_id(),
        user,
        kind,
        actor,
        subject,
        object,
    });
    state.tasks.spawn(async move { notify(&host, cmd).await });
}

/// Stores a notification through the writer and pushes it live.
async fn notify(state: &Host, cmd: Notify) {
    let id = cmd.0.id;
    match state.writer.run(cmd).await {
        Ok(true) => push(state, id).await,
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "storing a notification"),
    }
}

#[derive(Serialize, ToSchema)]
pub struct NotificationPage {
    pub items: Vec<NotificationView>,
    pub next_cursor: Option<String>,
    /// Unread notifications in all.
    pub unread: i64,
}

#[utoipa::path(get, path = "/api/notifications", tag = "notifications",
    params(PageParams),
    responses((status = 200, description = "Newest first", body = NotificationPage)))]
async fn list(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<PageParams>,
) -> Result<Json<NotificationPage>, AppError> {
    let page = p.resolve()?;
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("{SELECT} WHERE n.user_id = ? AND n.id < ? ORDER BY n.id DESC"));
    let rows = state.reader.all(
        &limited(&SQL, page.fetch()),
        [user.id.0, page.before()],
        Row::read,
    )?;
    let items = rows.into_iter().map(NotificationView::from).collect();
    let Page { items, next_cursor } = Page::from_rows(items, page, |n: &NotificationView| n.id);
    let unread: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE user_id = ? AND read_at IS NULL",
    )
    .bind(user.id.0)
    .fetch_one(&state.read)
    .await?;
    Ok(Json(NotificationPage {
        items,
        next_cursor,
        unread,
    }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// The notifications to mark; all of yours when absent.
    pub ids: Option<Vec<Id>>,
}

#[utoipa::path(post, path = "/api/notifications/read", tag = "notifications",
    request_body = MarkRead,
    responses(
        (status = 204, description = "Marked read"),
        (status = 422, body = ErrorBody),
    ))]
async fn mark_read(
    State(state): State<AppState>,
    user: User,
    body: axum::body::Bytes,
) -> Result<StatusCode, AppError> {
    // The body is optional: none (or `{}`) marks everything read.
    let ids = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<MarkRead>(&body)
            .map_err(|e| AppError::invalid(e.to_string()))?
            .ids
    };
    if ids.as_ref().is_some_and(|i| i.len() > 1000) {
        return Err(AppError::invalid("at most 1000 ids at a time"));
    }
    state
        .writer
        .run(MarkNotificationsRead { user: user.id, ids })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
