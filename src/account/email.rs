//! The account's mail address: `PUT`/`DELETE /api/me/email` and
//! `POST /api/me/email/verify`. An address counts (for password resets)
//! once the link mailed to it was opened by the account it was sent for.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::MeResponse;
use crate::auth::User;
use crate::auth::recovery::{
    check_email, hash, invalid_token, mail_id, new_token, public_url, token_error,
};
use crate::error::{AppError, ErrorBody};
use crate::http::Json;
use crate::state::AppState;
use crate::store::mail::Mail;
use crate::store::tokens::{RemoveEmail, RequestEmail, VerifyEmail};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_email, remove_email))
        .routes(routes!(verify_email))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct EmailPending {
    /// The address a verification link was sent to.
    pub email_pending: String,
}

#[utoipa::path(put, path = "/api/me/email", tag = "auth",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "A verification link (valid 24 h) was sent to the address", body = EmailPending),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 409, description = "The address is another account's (`email_taken`), or this server sends no mail (`mail_disabled`)", body = ErrorBody),
        (status = 422, description = "Not a mail address", body = ErrorBody),
    ))]
async fn set_email(
    State(state): State<AppState>,
    user: User,
    Json(req): Json<EmailRequest>,
) -> Result<(StatusCode, Json<EmailPending>), AppError> {
    let email = check_email(&req.email)?;
    if state.config.mail.is_none() {
        return Err(AppError::Coded {
            status: StatusCode::CONFLICT,
            code: "mail_disabled",
            message: "this server sends no mail, so it cannot verify an address".into(),
        });
    }
    let (token, token_hash) = new_token();
    let link = format!("{}/#/verify-email/{token}", public_url(&state));
    let mail = Mail {
        to: email.clone(),
        subject: "Confirm your address for kith".into(),
        text: format!(
            "Hello {},\n\nopen this link within 24 hours to confirm this address for your kith account:\n\n{link}\n\n\
             If you did not ask for this, ignore this mail.\n",
            user.view.username
        ),
        message_id: mail_id(&state),
    };
    state
        .writer
        .run(RequestEmail {
            user: user.id,
            email: email.clone(),
            token_hash,
            mail,
        })
        .await
        .map_err(token_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EmailPending {
            email_pending: email,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/me/email", tag = "auth",
    responses(
        (status = 204, description = "The account has no address any more"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn remove_email(State(state): State<AppState>, user: User) -> Result<StatusCode, AppError> {
    state.writer.run(RemoveEmail { user: user.id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub token: String,
}

#[utoipa::path(post, path = "/api/me/email/verify", tag = "auth",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The address is the account's", body = MeResponse),
        (status = 400, description = "The link is unknown, used, expired or forged (`invalid_token`)", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 409, description = "Another account verified the address meanwhile (`email_taken`)", body = ErrorBody),
    ))]
async fn verify_email(
    State(state): State<AppState>,
    user: User,
    Json(req): Json<VerifyRequest>,
) -> Result<Json<MeResponse>, AppError> {
    if req.token.len() > 128 {
        return Err(invalid_token());
    }
    state
        .writer
        .run(VerifyEmail {
            user: user.id,
            token_hash: hash(&req.token),
        })
        .await
        .map_err(token_error)?;
    Ok(Json(super::me_response(&state, &user).await?))
}
