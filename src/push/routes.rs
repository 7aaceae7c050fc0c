//! The API of push subscriptions and notification preferences.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::User;
use crate::auth::accounts::Timestamp;
use crate::error::{AppError, ErrorBody};
use crate::http::Json;
use crate::outbound;
use crate::state::AppState;
use crate::store::push::{SetPrefs, Subscribe, Unsubscribe};
use kith_core::ids::Id;
use kith_core::notify_prefs::{CHANNELS, Channel, GROUPS, Group};
use kith_core::webpush::Keys;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(key))
        .routes(routes!(list, subscribe, unsubscribe))
        .routes(routes!(get_prefs, put_prefs))
}

/// Endpoint URLs are a few hundred bytes (FCM's are about 200); a bound
/// keeps a row from holding a novel.
const MAX_ENDPOINT: usize = 2048;

#[derive(Serialize, ToSchema)]
pub struct PushKey {
    /// The VAPID public key, base64url: `applicationServerKey` for
    /// `pushManager.subscribe`.
    pub public_key: String,
}

#[utoipa::path(get, path = "/api/push/key", tag = "notifications",
    responses((status = 200, body = PushKey)))]
async fn key(State(state): State<AppState>, _user: User) -> Json<PushKey> {
    Json(PushKey {
        public_key: state.push_vapid.public_key(),
    })
}

/// `PushSubscription.toJSON()` as browsers give it.
#[derive(Deserialize, ToSchema)]
pub struct NewSubscription {
    pub endpoint: String,
    /// Ignored (browsers send null).
    #[serde(default, rename = "expirationTime")]
    pub expiration_time: Option<serde_json::Value>,
    pub keys: SubscriptionKeys,
}

#[derive(Deserialize, ToSchema)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: Id,
    /// The push service (the endpoint's host), to tell devices apart.
    pub service: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionList {
    pub items: Vec<SubscriptionView>,
}

#[utoipa::path(get, path = "/api/push/subscriptions", tag = "notifications",
    responses((status = 200, description = "Your devices that get push notifications", body = SubscriptionList)))]
async fn list(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<SubscriptionList>, AppError> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, endpoint, created_at FROM push_subscriptions WHERE user_id = ? ORDER BY id",
    )
    .bind(user.id.0)
    .fetch_all(&state.read)
    .await?;
    Ok(Json(SubscriptionList {
        items: rows
            .into_iter()
            .map(|(id, endpoint, at)| SubscriptionView {
                id: Id(id),
                service: url::Url::parse(&endpoint)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default(),
                created_at: Timestamp(at),
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct SubscribedView {
    pub id: Id,
}

#[utoipa::path(post, path = "/api/push/subscriptions", tag = "notifications",
    request_body = NewSubscription,
    responses(
        (status = 201, description = "This browser now gets push notifications", body = SubscribedView),
        (status = 200, description = "Known already (its keys are updated)", body = SubscribedView),
        (status = 413, description = "Already 10 devices", body = ErrorBody),
        (status = 422, description = "Not https, a refused address, or malformed keys", body = ErrorBody),
    ))]
async fn subscribe(
    State(state): State<AppState>,
    user: User,
    Json(body): Json<NewSubscription>,
) -> Result<(StatusCode, Json<SubscribedView>), AppError> {
    let endpoint = body.endpoint.trim().to_string();
    check_endpoint(&endpoint, state.config.push_allow_private).await?;
    Keys::parse(&body.keys.p256dh, &body.keys.auth)
        .map_err(|e| AppError::invalid(format!("keys: {e}")))?;
    let done = state
        .writer
        .run(Subscribe {
            id: crate::db::keyed::new_id(),
            user: user.id,
            session: user.session.id().map(|s| s.to_string()),
            endpoint,
            p256dh: body.keys.p256dh.trim().to_string(),
            auth: body.keys.auth.trim().to_string(),
        })
        .await?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(SubscribedView { id: done.id })))
}

/// An endpoint kith will POST to: https (or http with the flag), and an
/// address the outbound rule allows (checked again at every delivery: a
/// name may point elsewhere later).
async fn check_endpoint(endpoint: &str, allow_private: bool) -> Result<(), AppError> {
    if endpoint.len() > MAX_ENDPOINT {
        return Err(AppError::invalid(format!(
            "endpoint: at most {MAX_ENDPOINT} bytes"
        )));
    }
    let url = url::Url::parse(endpoint)
        .map_err(|e| AppError::invalid(format!("endpoint: not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        other => {
            return Err(AppError::invalid(format!(
                "endpoint: must be https, not {other}"
            )));
        }
    }
    match outbound::vet(&url, allow_private).await {
        Ok(_) => Ok(()),
        Err(e) => Err(AppError::invalid(format!("endpoint: {e}"))),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct EndpointBody {
    pub endpoint: String,
}

#[utoipa::path(delete, path = "/api/push/subscriptions", tag = "notifications",
    request_body = EndpointBody,
    responses((status = 204, description = "This browser gets no more push notifications (also when it got none)")))]
async fn unsubscribe(
    State(state): State<AppState>,
    user: User,
    Json(body): Json<EndpointBody>,
) -> Result<StatusCode, AppError> {
    state
        .writer
        .run(Unsubscribe {
            user: user.id,
            endpoint: body.endpoint.trim().to_string(),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every kind's channels: `{"kinds": {"like": {"app": true, "push": false,
/// "email": false}, …}}`.
#[derive(Serialize, ToSchema)]
pub struct Prefs {
    #[schema(value_type = Object)]
    pub kinds: BTreeMap<String, BTreeMap<String, bool>>,
}

async fn prefs_of(state: &AppState, user: Id) -> Result<Prefs, AppError> {
    let chosen: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT kind, channel, enabled <> 0 FROM notification_prefs WHERE user_id = ?",
    )
    .bind(user.0)
    .fetch_all(&state.read)
    .await?;
    let mut kinds = BTreeMap::new();
    for g in GROUPS {
        let mut channels = BTreeMap::new();
        for c in CHANNELS {
            let on = chosen
                .iter()
                .find(|(k, ch, _)| k == g.as_str() && ch == c.as_str())
                .map_or_else(|| kith_core::notify_prefs::default_on(g, c), |r| r.2);
            channels.insert(c.as_str().to_string(), on);
        }
        kinds.insert(g.as_str().to_string(), channels);
    }
    Ok(Prefs { kinds })
}

#[utoipa::path(get, path = "/api/notifications/preferences", tag = "notifications",
    responses((status = 200, description = "What reaches you, per kind and channel", body = Prefs)))]
async fn get_prefs(State(state): State<AppState>, user: User) -> Result<Json<Prefs>, AppError> {
    Ok(Json(prefs_of(&state, user.id).await?))
}

#[utoipa::path(put, path = "/api/notifications/preferences", tag = "notifications",
    request_body(content = Object, description = "`{\"kinds\": {KIND: {CHANNEL: bool}}}`, any subset"),
    responses(
        (status = 200, description = "Every preference after the change", body = Prefs),
        (status = 422, description = "An unknown kind or channel, or not a boolean", body = ErrorBody),
    ))]
async fn put_prefs(
    State(state): State<AppState>,
    user: User,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<Prefs>, AppError> {
    let kinds = body
        .get("kinds")
        .and_then(|k| k.as_object())
        .ok_or_else(|| AppError::invalid("expected {\"kinds\": {KIND: {CHANNEL: true|false}}}"))?;
    let known = |list: &[&str]| list.join(", ");
    let mut prefs = Vec::new();
    for (kind, channels) in kinds {
        let group = Group::parse(kind).ok_or_else(|| {
            AppError::invalid(format!(
                "unknown kind {kind:?}; kinds: {}",
                known(&GROUPS.map(Group::as_str))
            ))
        })?;
        let channels = channels.as_object().ok_or_else(|| {
            AppError::invalid(format!("{kind}: expected {{CHANNEL: true|false}}"))
        })?;
        for (channel, on) in channels {
            let c = Channel::parse(channel).ok_or_else(|| {
                AppError::invalid(format!(
                    "unknown channel {channel:?}; channels: {}",
                    known(&CHANNELS.map(Channel::as_str))
                ))
            })?;
            let on = on.as_bool().ok_or_else(|| {
                AppError::invalid(format!("{kind}.{channel}: expected true or false"))
            })?;
            prefs.push((group, c, on));
        }
    }
    if !prefs.is_empty() {
        state
            .writer
            .run(SetPrefs {
                user: user.id,
                prefs,
            })
            .await?;
    }
    Ok(Json(prefs_of(&state, user.id).await?))
}
