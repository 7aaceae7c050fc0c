//! Resume points: where a client stands in everything the server wrote,
//! as one signed token, so a client that comes back to any node catches up
//! on every conversation in one exchange (docs/protocol.md, `resume`).
//!
//! A token is `r1.<user id>.<position>.<issued ms>.<HMAC-SHA256>`: the
//! user it was issued to, a position in the order of all chat writes
//! (`messages.log_pos`), and when, under a key kept in the `settings`
//! table so any node checks a token any node issued. Signed so that a
//! client cannot name positions or users it was never given.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ids::Id;
use crate::signing;

/// A token older than this is refused as too old: the client syncs in full.
/// A day covers a laptop closed overnight; past that a full load is about
/// as cheap as a replay, and a replay that long could be unbounded.
pub const MAX_AGE_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a position must have been the latest before a `checkpoint`
/// hands it out. A frame reaches a connection after its commit (forwarded
/// writes, delivery across nodes); handing out a position at once could
/// name an item whose frame is still on its way, and a connection lost
/// meanwhile would skip it for good. Ten seconds is well above the
/// slowest delivery measured between regions (under 1 s); the items
/// re-sent on resume because of it are deduplicated by seq.
pub const SETTLE: Duration = Duration::from_secs(10);

const LABEL: &[u8] = b"kith resume v1";

/// What a genuine token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    pub user: Id,
    pub position: i64,
    pub issued_ms: i64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("malformed resume token")]
    Malformed,
    #[error("bad resume token signature")]
    BadSignature,
    #[error("resume token of another user")]
    OtherUser,
    #[error("resume token too old")]
    TooOld,
}

#[derive(Clone)]
pub struct ResumeKey(Vec<u8>);

impl std::fmt::Debug for ResumeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeKey(..)")
    }
}

impl ResumeKey {
    pub fn new(key: Vec<u8>) -> Self {
        ResumeKey(key)
    }

    pub fn issue(&self, p: Point) -> String {
        let payload = format!("r1.{}.{}.{}", p.user, p.position, p.issued_ms);
        let sig = signing::sign(&self.0, &[LABEL, payload.as_bytes()]);
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// The point `token` names, if it is genuine, `user`'s, and at most
    /// [`MAX_AGE_MS`] old at `now`.
    pub fn check(&self, token: &str, user: Id, now: i64) -> Result<Point, ResumeError> {
        let (payload, sig) = token.rsplit_once('.').ok_or(ResumeError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| ResumeError::Malformed)?;
        if !signing::verify(&self.0, &[LABEL, payload.as_bytes()], &sig) {
            return Err(ResumeError::BadSignature);
        }
        let mut parts = payload.split('.');
        let (Some("r1"), Some(u), Some(pos), Some(at), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(ResumeError::Malformed);
        };
        let point = Point {
            user: u.parse().map_err(|_| ResumeError::Malformed)?,
            position: pos.parse().map_err(|_| ResumeError::Malformed)?,
            issued_ms: at.parse().map_err(|_| ResumeError::Malformed)?,
        };
        if point.user != user {
            return Err(ResumeError::OtherUser);
        }
        if now - point.issued_ms > MAX_AGE_MS {
            return Err(ResumeError::TooOld);
        }
        Ok(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_checked_for_signature_owner_and_age() {
        let key = ResumeKey::new(b"k".to_vec());
        let p = Point {
            user: Id(7),
            position: 42,
            issued_ms: 1_000,
        };
        let t = key.issue(p);
        assert_eq!(key.check(&t, Id(7), 2_000), Ok(p));
        assert_eq!(key.check(&t, Id(8), 2_000), Err(ResumeError::OtherUser));
        assert_eq!(
            key.check(&t, Id(7), 1_000 + MAX_AGE_MS + 1),
            Err(ResumeError::TooOld)
        );
        let forged = t.replacen(".42.", ".43.", 1);
        assert_eq!(
            key.check(&forged, Id(7), 2_000),
            Err(ResumeError::BadSignature)
        );
        let other = ResumeKey::new(b"other".to_vec());
        assert_eq!(
            other.check(&t, Id(7), 2_000),
            Err(ResumeError::BadSignature)
        );
        assert_eq!(
            key.check("nonsense", Id(7), 2_000),
            Err(ResumeError::Malformed)
        );
    }
}
