//! Short-lived signed tickets for WebTransport, whose CONNECT request
//! carries no cookies: `POST /api/realtime/ticket` (cookie-authenticated)
//! issues one; `/wt?ticket=` presents it.
//!
//! A ticket is `<user id>.<session handle>.<expiry ms>.<HMAC-SHA256>`
//! under a key kept in the `settings` table, so any node can check a ticket
//! any node issued. The session handle ties the connection to the session
//! that asked for the ticket: when that session ends, the connection
//! closes like a WebSocket opened with its cookie or token.

use crate::ids::{Id, now_ms};
use crate::signing;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How long a ticket is good for.
pub const TTL_MS: i64 = 60_000;

#[derive(Clone)]
pub struct TicketKey(Vec<u8>);

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey(..)")
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("malformed ticket")]
    Malformed,
    #[error("bad ticket signature")]
    BadSignature,
    #[error("ticket expired")]
    Expired,
}

impl TicketKey {
    pub fn new(key: Vec<u8>) -> Self {
        TicketKey(key)
    }

    pub fn issue_at(&self, user: Id, session: Id, now: i64) -> String {
        let payload = format!("{user}.{session}.{}", now + TTL_MS);
        let sig = URL_SAFE_NO_PAD.encode(signing::sign(&self.0, &[payload.as_bytes()]));
        format!("{payload}.{sig}")
    }

    pub fn issue(&self, user: Id, session: Id) -> String {
        self.issue_at(user, session, now_ms())
    }

    /// The user and session a ticket was issued to, if it is genuine and
    /// unexpired at `now`.
    pub fn check_at(&self, ticket: &str, now: i64) -> Result<(Id, Id), TicketError> {
        let mut parts = ticket.splitn(4, '.');
        let (Some(user), Some(session), Some(exp), Some(sig)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TicketError::Malformed);
        };
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TicketError::Malformed)?;
        let payload = format!("{user}.{session}.{exp}");
        if !signing::verify(&self.0, &[payload.as_bytes()], &sig) {
            return Err(TicketError::BadSignature);
        }
        let exp: i64 = exp.parse().map_err(|_| TicketError::Malformed)?;
        if now > exp {
            return Err(TicketError::Expired);
        }
        let user = user.parse().map_err(|_| TicketError::Malformed)?;
        let session = session.parse().map_err(|_| TicketError::Malformed)?;
        Ok((user, session))
    }

    pub fn check(&self, ticket: &str) -> Result<(Id, Id), TicketError> {
        self.check_at(ticket, now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip_and_expire() {
        let key = TicketKey::new(b"k".repeat(32));
        let t = key.issue_at(Id(99), Id(5), 1_000);
        assert_eq!(key.check_at(&t, 1_000 + TTL_MS), Ok((Id(99), Id(5))));
        assert_eq!(key.check_at(&t, 1_001 + TTL_MS), Err(TicketError::Expired));
        let other = TicketKey::new(b"x".repeat(32));
        assert_eq!(other.check_at(&t, 1_000), Err(TicketError::BadSignature));
        // Another user's id with this signature fails.
        let forged = t.replacen(&Id(99).to_string(), &Id(98).to_string(), 1);
        assert_eq!(key.check_at(&forged, 1_000), Err(TicketError::BadSignature));
        assert_eq!(key.check_at("garbage", 1_000), Err(TicketError::Malformed));
        assert_eq!(
            key.check_at("a.b.c.!!!", 1_000),
            Err(TicketError::Malformed)
        );
        // Another session's handle with this signature fails too.
        let moved = t.replacen(&Id(5).to_string(), &Id(6).to_string(), 1);
        assert_eq!(key.check_at(&moved, 1_000), Err(TicketError::BadSignature));
    }
}
