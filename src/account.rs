//! A user's own account as a whole: `GET /api/me` (who they are),
//! `GET /api/me/export` (everything they own, as JSON) and `DELETE /api/me`
//! (the account and everything it owns, after the password is entered
//! again).
//!
//! Deletion is one command ([`DeleteAccount`]); the media files go after
//! its commit, and the user's sockets are closed on every node.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::accounts::{self, Timestamp, UserView};
use crate::auth::{User, limits};
use crate::db::{DbError, Reader};
use crate::error::{AppError, ErrorBody};
use crate::http::Json;
use crate::http::client_ip::ClientIp;
use crate::media::{self, MediaView};
use crate::state::AppState;
use crate::store::accounts::DeleteAccount;
use kith_core::ids::{Id, now_ms};

mod email;
mod profile;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, delete_account, profile::update))
        .routes(routes!(profile::change_password))
        .routes(routes!(export))
        .merge(email::router())
}

// ---- the account itself -----------------------------------------------------

/// The signed-in user as they see themselves.
#[derive(Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: UserView,
    pub bio: String,
    /// May use the admin console.
    pub admin: bool,
    /// The verified mail address (password resets go there).
    pub email: Option<String>,
    /// An address waiting for its verification link to be opened.
    pub email_pending: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub user: Me,
}

#[utoipa::path(get, path = "/api/me", tag = "auth",
    responses(
        (status = 200, description = "The signed-in user", body = MeResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn me(State(state): State<AppState>, user: User) -> Result<Json<MeResponse>, AppError> {
    Ok(Json(me_response(&state, &user).await?))
}

/// The signed-in user as `GET /api/me` shows them: read afresh, not from
/// the signed-in user's 10 s cache, so that a new avatar or name shows on
/// the page that just made it.
pub(crate) async fn me_response(state: &AppState, user: &User) -> Result<MeResponse, AppError> {
    let view = accounts::by_id(&state.reader, user.id)?.unwrap_or_else(|| user.view.clone());
    let (bio, admin, email): (String, bool, Option<String>) =
        sqlx::query_as("SELECT bio, is_admin <> 0, email FROM users WHERE id = ?")
            .bind(user.id.0)
            .fetch_optional(&state.read)
            .await?
            .unwrap_or_default();
    let email_pending: Option<String> = sqlx::query_scalar(
        "SELECT email FROM account_tokens
         WHERE user_id = ? AND purpose = 'verify_email' AND used_at IS NULL AND expires_at > ?
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user.id.0)
    .bind(now_ms())
    .fetch_optional(&state.read)
    .await?
    .flatten();
    Ok(MeResponse {
        user: Me {
            user: view,
            bio,
            admin,
            email,
            email_pending,
        },
    })
}

/// Whether `password` is the account's, counted like a sign-in attempt
/// (guesses here hit the same limits); Forbidden (`wrong_password`) when
/// it is not. Deletion and a new password both ask for it.
pub(crate) async fn recheck_password(
    state: &AppState,
    ip: std::net::IpAddr,
    user: &User,
    password: String,
) -> Result<(), AppError> {
    let attempt = limits::admit_login(state, ip, &user.view.username).await?;
    let hash = accounts::credentials(&state.read, &user.view.username)
        .await?
        .map(|c| c.password_hash);
    let right = password.len() <= crate::auth::password::MAX_LEN
        && state.passwords.verify(password, hash).await?;
    if !right {
        return Err(AppError::Coded {
            status: StatusCode::FORBIDDEN,
            code: "wrong_password",
            message: "the password is not right".into(),
        });
    }
    attempt.succeeded(state).await;
    Ok(())
}

// ---- deletion -------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The account's password, entered again.
    pub password: String,
}

#[utoipa::path(delete, path = "/api/me", tag = "auth",
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "The account and everything it owned are gone; its sessions and sockets are ended everywhere"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Wrong password", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
    ))]
pub async fn delete_account(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: User,
    Json(req): Json<DeleteAccountRequest>,
) -> Result<StatusCode, AppError> {
    recheck_password(&state, ip, &user, req.password).await?;
    let media = state.writer.run(DeleteAccount { user: user.id }).await?;
    for id in media {
        if let Err(e) = state.media.remove(&state.config.media_dir, id).await {
            tracing::warn!(media = %id, error = %e, "removing a deleted account's media");
        }
    }
    state.invalidate_user(user.id).await;
    user.signed_out_everywhere(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- export ---------------------------------------------------------------

/// Everything a user owns. Others' content (their messages, comments on
/// the user's posts) is theirs and is not included.
#[derive(Serialize, ToSchema)]
pub struct Export {
    /// `kith-export/1`.
    pub format: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub exported_at: Timestamp,
    pub user: UserView,
    pub posts: Vec<ExportPost>,
    pub comments: Vec<ExportComment>,
    pub likes: Vec<ExportLike>,
    pub friends: Vec<ExportContact>,
    pub friend_requests_sent: Vec<ExportContact>,
    pub friend_requests_received: Vec<ExportContact>,
    pub blocked: Vec<ExportContact>,
    pub conversations: Vec<ExportConversation>,
    pub notifications: Vec<ExportNotification>,
    pub media: Vec<MediaView>,
    pub sessions: Vec<ExportSession>,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct ExportPost {
    #[sqlx(try_from = "i64")]
    pub id: Id,
    pub body: String,
    pub visibility: String,
    #[sqlx(try_from = "i64")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub like_count: i64,
    pub comment_count: i64,
    /// The post's photos and videos, in order (ids as in `media`).
    #[sqlx(try_from = "String")]
    #[schema(value_type = Vec<String>)]
    pub media_ids: IdList,
}

/// A JSON array of integer ids from SQLite, shown as ids.
#[derive(Debug)]
pub struct IdList(pub Vec<Id>);

impl TryFrom<String> for IdList {
    type Error = serde_json::Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let raw: Vec<i64> = serde_json::from_str(&s)?;
        Ok(IdList(raw.into_iter().map(Id).collect()))
    }
}

impl Serialize for IdList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct ExportComment {
    #[sqlx(try_from = "i64")]
    pub id: Id,
    #[sqlx(try_from = "i64")]
    pub post_id: Id,
    pub body: String,
    #[sqlx(try_from = "i64")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct ExportLike {
    #[sqlx(try_from = "i64")]
    pub post_id: Id,
    #[sqlx(try_from = "i64")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// Another user and since when they relate (friends since, asked at,
/// blocked at).
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct ExportContact {
    pub username: String,
    #[sqlx(try_from = "i64")]
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

#[derive(Serialize, ToSchema)]
pub struct ExportConversation {
    pub id: Id,
    pub kind: String,
    pub title: Option<String>,
    pub members: Vec<String>,
    /// The messages this user sent there.
    pub messages: Vec<ExportMessage>,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct ExportMessage {
    pub seq: i64,
    pub body: String,
    pub client_msg_id: String,
    #[sqlx(try_from = "i64")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct ExportNotification {
    pub kind: String,
    /// Who caused it, when they still exist.
    pub actor: Option<String>,
    #[sqlx(try_from = "Option<i64>")]
    #[schema(value_type = Option<String>)]
    pub subject_id: OptId,
    #[sqlx(try_from = "i64")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub read: bool,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct ExportSession {
    #[sqlx(try_from = "i64")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// An optional id, read from a nullable column.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct OptId(pub Option<Id>);

impl From<Option<i64>> for OptId {
    fn from(v: Option<i64>) -> Self {
        OptId(v.map(Id))
    }
}

/// The rows of `sql`, whose one parameter is the user's id.
async fn mine<T>(pool: &SqlitePool, me: i64, sql: &'static str) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    sqlx::query_as(sql).bind(me).fetch_all(pool).await
}

impl Export {
    async fn of(pool: &SqlitePool, db: &Reader, user: UserView) -> Result<Export, DbError> {
        let me = user.id.0;
        let posts = mine(
            pool,
            me,
            "SELECT id, body, visibility, created_at, like_count, comment_count,
                    (SELECT json_group_array(pm.media_id) FROM
                       (SELECT media_id FROM post_media WHERE post_id = posts.id ORDER BY position) pm)
                    AS media_ids
             FROM posts WHERE author_id = ? ORDER BY id",
        )
        .await?;
        let comments = mine(
            pool,
            me,
            "SELECT id, post_id, body, created_at FROM comments WHERE author_id = ? ORDER BY id",
        )
        .await?;
        let likes = mine(
            pool,
            me,
            "SELECT post_id, created_at FROM likes WHERE user_id = ? ORDER BY post_id",
        )
        .await?;
        let contacts = |sql| mine::<ExportContact>(pool, me, sql);
        let friends = contacts(
            "SELECT u.username, f.created_at AS since FROM friendships f
             JOIN users u ON u.id = f.friend_id WHERE f.user_id = ? ORDER BY f.created_at",
        )
        .await?;
        let friend_requests_sent = contacts(
            "SELECT u.username, r.created_at AS since FROM friend_requests r
             JOIN users u ON u.id = r.to_user WHERE r.from_user = ? ORDER BY r.id",
        )
        .await?;
        let friend_requests_received = contacts(
            "SELECT u.username, r.created_at AS since FROM friend_requests r
             JOIN users u ON u.id = r.from_user WHERE r.to_user = ? ORDER BY r.id",
        )
        .await?;
        let blocked = contacts(
            "SELECT u.username, b.created_at AS since FROM blocks b
             JOIN users u ON u.id = b.blocked_id WHERE b.blocker_id = ? ORDER BY b.created_at",
        )
        .await?;
        let rows: Vec<(i64, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT c.id, c.kind, c.title,
                    (SELECT group_concat(u.username, char(10)) FROM conversation_members o
                     JOIN users u ON u.id = o.user_id WHERE o.conversation_id = c.id)
             FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.user_id = ? ORDER BY c.id",
        )
        .bind(me)
        .fetch_all(pool)
        .await?;
        let mut conversations = Vec::with_capacity(rows.len());
        for (id, kind, title, members) in rows {
            let messages = sqlx::query_as(
                "SELECT seq, body, client_msg_id, created_at FROM messages
                 WHERE sender_id = ? AND conversation_id = ? ORDER BY seq",
            )
            .bind(me)
            .bind(id)
            .fetch_all(pool)
            .await?;
            let mut members: Vec<String> = members
                .unwrap_or_default()
                .split('\n')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect();
            members.sort();
            conversations.push(ExportConversation {
                id: Id(id),
                kind,
                title,
                members,
                messages,
            });
        }
        let notifications = mine(
            pool,
            me,
            "SELECT n.kind, u.username AS actor, n.subject_id, n.created_at,
                    n.read_at IS NOT NULL AS read
             FROM notifications n LEFT JOIN users u ON u.id = n.actor_id
             WHERE n.user_id = ? ORDER BY n.id",
        )
        .await?;
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM media WHERE owner_id = ? ORDER BY id")
                .bind(me)
                .fetch_all(pool)
                .await?;
        let mut media_views = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = media::get(db, Id(id))? {
                media_views.push(m);
            }
        }
        let sessions = mine(
            pool,
            me,
            "SELECT created_at, expiry_date AS expires_at FROM user_sessions
             WHERE user_id = ? ORDER BY created_at",
        )
        .await?;
        Ok(Export {
            format: "kith-export/1",
            exported_at: Timestamp(now_ms()),
            user,
            posts,
            comments,
            likes,
            friends,
            friend_requests_sent,
            friend_requests_received,
            blocked,
            conversations,
            notifications,
            media: media_views,
            sessions,
        })
    }
}

#[utoipa::path(get, path = "/api/me/export", tag = "auth",
    responses(
        (status = 200, description = "Everything you own, as a JSON attachment", body = Export),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn export(
    State(state): State<AppState>,
    user: User,
) -> Result<impl IntoResponse, AppError> {
    let name = format!("attachment; filename=\"kith-{}.json\"", user.view.username);
    let export = Export::of(&state.read, &state.reader, user.view).await?;
    Ok(([(header::CONTENT_DISPOSITION, name)], Json(export)))
}
