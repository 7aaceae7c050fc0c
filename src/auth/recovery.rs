//! Getting back in, and proving an address: password resets by mail
//! (`POST /api/auth/password-reset`, `.../confirm`), the address of an
//! account (`PUT`/`DELETE /api/me/email`, `POST /api/me/email/verify`),
//! and the single-use tokens behind them.
//!
//! A token is 256 random bits in URL-safe base64; only its SHA-256 is
//! stored ([`crate::store::tokens`]). Unknown, used, expired and forged
//! tokens get one answer (`invalid_token`).

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts;
use crate::error::{AppError, ErrorBody};
use crate::http::Json;
use crate::state::AppState;
use crate::store::CmdError;
use crate::store::mail::Mail;
use crate::store::tokens::{ConfirmReset, INVALID, IssueReset};
use kith_core::ids::Id;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
}

/// Resets asked for one account within an hour, beyond which further
/// requests send nothing: enough for a lost mail or two, too few to flood
/// someone's inbox through kith.
const RESETS_PER_HOUR: i64 = 3;

/// A new single-use token and the hash stored for it.
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

pub fn hash(token: &str) -> String {
    let d = Sha256::digest(token.trim().as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where people open kith: `--public-url`, or this node's HTTP address.
pub fn public_url(state: &AppState) -> String {
    state
        .config
        .community
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", state.http_addr))
}

/// A password-reset link for `token`.
pub fn reset_link(state: &AppState, token: &str) -> String {
    format!("{}/#/reset-password/{token}", public_url(state))
}

pub fn invalid_token() -> AppError {
    AppError::Coded {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_token",
        message: INVALID.into(),
    }
}

/// A command refusing a token answers [`invalid_token`].
pub fn token_error(e: CmdError) -> AppError {
    match e {
        CmdError::NotFound(_) => invalid_token(),
        CmdError::Conflict(m) => AppError::Coded {
            status: StatusCode::CONFLICT,
            code: "email_taken",
            message: m,
        },
        other => other.into(),
    }
}

/// A syntactically plausible address (RFC 5321's limits; one `@`, a dot
/// in the domain, no spaces or controls): the mail itself proves it.
pub fn check_email(email: &str) -> Result<String, AppError> {
    let e = email.trim();
    let bad = || AppError::invalid("that is not a mail address");
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    let ok = e.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    if ok { Ok(e.to_owned()) } else { Err(bad()) }
}

pub fn mail_id(state: &AppState) -> String {
    let host = state
        .config
        .community
        .public_url
        .as_deref()
        .and_then(|u| u.split("://").nth(1))
        .map(|h| h.split(['/', ':']).next().unwrap_or("kith"))
        .unwrap_or("kith.invalid")
        .to_owned();
    format!("<{}@{host}>", Id::generate())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

#[utoipa::path(post, path = "/api/auth/password-reset", tag = "auth",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "If an account has this verified address, a reset link (valid 1 h) is on its way. The same answer whether or not one has."),
        (status = 422, description = "Not a mail address", body = ErrorBody),
    ))]
async fn request_reset(
    State(state): State<AppState>,
    Json(req): Json<ResetRequest>,
) -> Result<StatusCode, AppError> {
    let email = check_email(&req.email)?;
    // In the background: the answer comes as fast whether or not the
    // address is known, so its timing tells nothing either.
    let bg = state.clone();
    state.tasks.spawn(async move {
        if let Err(e) = send_reset(&bg, &email).await {
            tracing::warn!(error = %e, "sending a password reset");
        }
    });
    Ok(StatusCode::ACCEPTED)
}

async fn send_reset(state: &AppState, email: &str) -> anyhow::Result<()> {
    if state.config.mail.is_none() {
        return Ok(());
    }
    let row: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT u.id, u.username,
                (SELECT count(*) FROM account_tokens t
                 WHERE t.user_id = u.id AND t.purpose = 'reset_password' AND t.created_at > ?)
         FROM users u WHERE u.email = ? AND u.banned_at IS NULL",
    )
    .bind(kith_core::ids::now_ms() - 3600 * 1000)
    .bind(email)
    .fetch_optional(&state.read)
    .await?;
    let Some((user, username, recent)) = row else {
        return Ok(());
    };
    if recent >= RESETS_PER_HOUR {
        return Ok(());
    }
    let (token, token_hash) = new_token();
    let link = reset_link(state, &token);
    let mail = Mail {
        to: email.to_owned(),
        subject: "Reset your kith password".into(),
        text: format!(
            "Hello {username},\n\nsomeone (we hope you) asked to reset the password of your kith account.\n\
             Open this link within an hour to choose a new one:\n\n{link}\n\n\
             If it was not you, ignore this mail: your password stays as it is.\n"
        ),
        message_id: mail_id(state),
    };
    state
        .writer
        .run(IssueReset {
            user: Id(user),
            token_hash,
            mail: Some(mail),
        })
        .await?;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmResetRequest {
    pub token: String,
    /// The new password, checked like at sign-up.
    pub password: String,
}

#[utoipa::path(post, path = "/api/auth/password-reset/confirm", tag = "auth",
    request_body = ConfirmResetRequest,
    responses(
        (status = 204, description = "The password is set; every session of the account has ended"),
        (status = 400, description = "The link is unknown, used, expired or forged (`invalid_token`)", body = ErrorBody),
        (status = 422, description = "A weak password", body = ErrorBody),
    ))]
async fn confirm_reset(
    State(state): State<AppState>,
    Json(req): Json<ConfirmResetRequest>,
) -> Result<StatusCode, AppError> {
    accounts::check_password(&req.password)?;
    if req.token.len() > 128 {
        return Err(invalid_token());
    }
    let password_hash = state.passwords.hash(req.password).await?;
    let user = state
        .writer
        .run(ConfirmReset {
            token_hash: hash(&req.token),
            password_hash,
        })
        .await
        .map_err(token_error)?;
    state.sign_out_everywhere(user).await;
    Ok(StatusCode::NO_CONTENT)
}
