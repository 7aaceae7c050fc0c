//! Editing one's own account: `PATCH /api/me` (display name, bio) and
//! `POST /api/me/password`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{MeResponse, me_response, recheck_password};
use crate::auth::{User, accounts};
use crate::error::{AppError, ErrorBody};
use crate::http::Json;
use crate::http::client_ip::ClientIp;
use crate::state::AppState;
use crate::store::profile::{SetPassword, UpdateProfile};

/// A bio holds at most this many characters: two or three lines under a
/// name, as on the apps people know (Instagram allows 150, Mastodon 500).
pub const MAX_BIO_CHARS: usize = 300;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// 1 to 64 characters.
    pub display_name: Option<String>,
    /// At most 300 characters; line breaks are kept.
    pub bio: Option<String>,
}

/// A bio as stored: trimmed, at most [`MAX_BIO_CHARS`], no control
/// characters but line breaks (at most 4 of them in a row, kept to 2).
pub fn clean_bio(bio: &str) -> Result<String, AppError> {
    let bio = bio.trim().replace("\r\n", "\n");
    if bio.chars().count() > MAX_BIO_CHARS {
        return Err(AppError::invalid(format!(
            "bio must be at most {MAX_BIO_CHARS} characters"
        )));
    }
    if bio.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid("bio must not hold control characters"));
    }
    let mut out = String::with_capacity(bio.len());
    let mut breaks = 0;
    for c in bio.chars() {
        if c == '\n' {
            breaks += 1;
            if breaks > 2 {
                continue;
            }
        } else {
            breaks = 0;
        }
        out.push(c);
    }
    Ok(out)
}

#[utoipa::path(patch, path = "/api/me", tag = "auth",
    request_body = ProfileUpdate,
    responses(
        (status = 200, description = "The updated account", body = MeResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "A display name or bio out of bounds", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    user: User,
    Json(req): Json<ProfileUpdate>,
) -> Result<Json<MeResponse>, AppError> {
    let display_name = req
        .display_name
        .as_deref()
        .map(accounts::clean_display_name)
        .transpose()?;
    let bio = req.bio.as_deref().map(clean_bio).transpose()?;
    if display_name.is_some() || bio.is_some() {
        state
            .writer
            .run(UpdateProfile {
                user: user.id,
                display_name,
                bio,
            })
            .await?;
        // Every node drops its cached copy, so the new name shows on
        // posts and in chat everywhere within a moment.
        state.invalidate_user(user.id).await;
    }
    Ok(Json(me_response(&state, &user).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// Checked like at sign-up.
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/me/password", tag = "auth",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed: every other session and token of the account ended (their sockets close); this one goes on under a new id"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "The current password is not right (`wrong_password`)", body = ErrorBody),
        (status = 422, description = "A weak new password", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: User,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, AppError> {
    accounts::check_password(&req.new_password)?;
    recheck_password(&state, ip, &user, req.current_password).await?;
    let password_hash = state.passwords.hash(req.new_password).await?;
    let keep = user.session.id().map(|id| id.to_string());
    state
        .writer
        .run(SetPassword {
            user: user.id,
            password_hash,
            keep: keep.clone(),
        })
        .await?;
    // The other sessions ended in that transaction: refused here at once
    // (every node's log reader drops them within 250 ms).
    state.sessions.forget_user(user.id);
    // A browser session goes on under a new id (an id seen before the
    // change is worth nothing after it); an app's token stays, as the
    // app could not learn a new one from a cookie.
    let is_token: Option<String> = user
        .session
        .get(crate::auth::SESSION_KIND)
        .await
        .unwrap_or(None);
    if keep.is_some() && is_token.as_deref() != Some("token") {
        user.session
            .cycle_id()
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bios() {
        assert_eq!(
            clean_bio("  hi\r\nthere  ").ok().as_deref(),
            Some("hi\nthere")
        );
        assert_eq!(clean_bio("a\n\n\n\n\nb").ok().as_deref(), Some("a\n\nb"));
        assert!(clean_bio(&"é".repeat(300)).is_ok());
        assert!(clean_bio(&"é".repeat(301)).is_err());
        assert!(clean_bio("bell\u{7}").is_err());
        assert_eq!(clean_bio("").ok().as_deref(), Some(""));
    }
}
