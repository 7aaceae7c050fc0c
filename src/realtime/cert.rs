//! The WebTransport certificate: one for the whole cluster.
//!
//! Browsers pin a self-signed certificate by its hash
//! (`serverCertificateHashes`), so every node behind one hostname must serve
//! the same one. The primary makes it and stores it in the replicated
//! database: the `settings` row [`SETTING`] holds a [`CertPair`] as JSON, a
//! CURRENT and a NEXT certificate, each its PEM certificate and key with its
//! validity window (the row already sits beside the ticket key, an equal
//! secret). Every node serves CURRENT; `/api/realtime/config` publishes the
//! hashes of CURRENT then NEXT, so a page that fetched them before a rotation
//! still connects after it.
//!
//! Rotation. A certificate is valid 13 days (browsers refuse more than 14).
//! When CURRENT has 3 days left, the primary promotes NEXT and makes a new
//! NEXT, in one compare-and-set write ([`Command::SetSetting`]): of two
//! nodes that both believe they are the primary (a failover), one wins and
//! the other adopts its value. NEXT's window opens a day before its
//! promotion falls due, so it is valid when first served, even to a client
//! whose clock is somewhat behind. The decision is [`plan`], a pure function
//! of the time and the stored windows.
//!
//! Reload. Every node reads the row every [`WATCH_EVERY`] (one primary-key
//! lookup); the primary applies [`plan`] first. When the value changed, the
//! node hands its endpoint a new server configuration
//! (`Endpoint::reload_config`): new handshakes get the new certificate,
//! established sessions keep theirs. In the seconds between the primary's
//! write and another node's next look, a client holding only the newest
//! hashes may fail one handshake on that node; it retries (or falls back to
//! WebSocket).
//!
//! Before the first certificate. The primary stores one before it binds. A
//! replica that finds none waits up to [`REPLICA_WAIT`] for the primary's;
//! then it binds with a temporary certificate of its own that it does not
//! publish (`cert_hashes` stays empty, so clients use WebSocket), and
//! switches to the stored one once it appears.
//!
//! Certificate files from the configuration (`--wt-cert`, `--wt-key`) take
//! precedence: then nothing is made or stored here.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use time::{Duration as TDuration, OffsetDateTime};
use wtransport::Identity;
use wtransport::tls::rustls::pki_types::pem::PemObject;
use wtransport::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wtransport::tls::{Certificate, CertificateChain, PrivateKey};

use crate::cluster::Role;
use crate::state::AppState;
use crate::store::settings::SetSetting;

/// The `settings` key of the stored [`CertPair`].
pub const SETTING: &str = "wt_certs";
/// A certificate's whole validity (browsers allow 14 days).
pub const LIFETIME: TDuration = TDuration::days(13);
/// CURRENT is replaced when this much of its life is left.
pub const RENEW_BEFORE: TDuration = TDuration::days(3);
/// NEXT becomes valid this long before its promotion falls due.
pub const NEXT_LEAD: TDuration = TDuration::days(1);
/// A fresh CURRENT is back-dated this much, for clients' clock skew.
const BACKDATE: TDuration = TDuration::hours(1);
/// How often every node reads the stored pair (and the primary rotates it).
/// Short, so that a rotation reaches every node within seconds; the read is
/// one primary-key lookup.
pub const WATCH_EVERY: Duration = Duration::from_secs(10);
/// How long a replica with nothing stored waits for the primary at start.
pub const REPLICA_WAIT: Duration = Duration::from_secs(10);

/// A validity period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Window {
    /// Valid at `now` with more than [`RENEW_BEFORE`] left.
    fn usable(self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now + RENEW_BEFORE <= self.not_after
    }

    /// The window of the certificate that will follow this one: it opens
    /// [`NEXT_LEAD`] before this one falls due.
    fn successor(self) -> Window {
        let not_before = self.not_after - RENEW_BEFORE - NEXT_LEAD;
        Window {
            not_before,
            not_after: not_before + LIFETIME,
        }
    }
}

/// What the primary does with the stored pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// CURRENT is good for more than [`RENEW_BEFORE`].
    Keep,
    /// Nothing usable is stored: make both.
    Create { current: Window, next: Window },
    /// NEXT becomes CURRENT; make a new NEXT.
    Promote { next: Window },
}

/// The rotation rule. `stored` is (CURRENT, NEXT). Keep CURRENT while it is
/// usable (valid at `now` with more than [`RENEW_BEFORE`] left); otherwise
/// promote NEXT if it is usable; otherwise (nothing stored, or both stale
/// after a long outage) start over.
pub fn plan(now: OffsetDateTime, stored: Option<(Window, Window)>) -> Plan {
    match stored {
        Some((current, _)) if current.usable(now) => Plan::Keep,
        Some((_, next)) if next.usable(now) => Plan::Promote {
            next: next.successor(),
        },
        _ => {
            // Whole seconds: what a certificate and the stored row hold.
            let not_before = now - BACKDATE;
            let not_before = not_before.replace_nanosecond(0).unwrap_or(not_before);
            let current = Window {
                not_before,
                not_after: not_before + LIFETIME,
            };
            Plan::Create {
                current,
                next: current.successor(),
            }
        }
    }
}

/// One stored certificate. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub not_before: i64,
    pub not_after: i64,
}

/// The stored value: what every node serves, and what follows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertPair {
    pub current: StoredCert,
    pub next: StoredCert,
}

impl StoredCert {
    /// A self-signed ECDSA P-256 certificate for `window`.
    pub fn generate(window: Window) -> anyhow::Result<StoredCert> {
        let identity = Identity::self_signed_builder()
            .subject_alt_names(["localhost", "127.0.0.1", "::1"])
            .validity_period(window.not_before, window.not_after)
            .build()?;
        let cert = identity
            .certificate_chain()
            .as_slice()
            .first()
            .ok_or_else(|| anyhow::anyhow!("no certificate made"))?;
        Ok(StoredCert {
            cert_pem: cert.to_pem(),
            key_pem: identity.private_key().to_secret_pem(),
            not_before: window.not_before.unix_timestamp(),
            not_after: window.not_after.unix_timestamp(),
        })
    }

    pub fn window(&self) -> anyhow::Result<Window> {
        Ok(Window {
            not_before: OffsetDateTime::from_unix_timestamp(self.not_before)?,
            not_after: OffsetDateTime::from_unix_timestamp(self.not_after)?,
        })
    }

    fn certificate(&self) -> anyhow::Result<Certificate> {
        let der = CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map_err(|e| anyhow::anyhow!("certificate PEM: {e:?}"))?;
        Ok(Certificate::from_der(der.to_vec())?)
    }

    /// The certificate and key, for the endpoint's configuration.
    pub fn identity(&self) -> anyhow::Result<Identity> {
        let key = match PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()) {
            Ok(PrivateKeyDer::Pkcs8(k)) => {
                PrivateKey::from_der_pkcs8(k.secret_pkcs8_der().to_vec())
            }
            Ok(_) => anyhow::bail!("the stored key is not PKCS#8"),
            Err(e) => anyhow::bail!("key PEM: {e:?}"),
        };
        Ok(Identity::new(
            CertificateChain::single(self.certificate()?),
            key,
        ))
    }

    /// Base64 SHA-256 of the certificate, as published.
    pub fn hash(&self) -> anyhow::Result<String> {
        Ok(encode_hash(&self.certificate()?))
    }
}

impl CertPair {
    /// The published hashes: CURRENT's, then NEXT's.
    pub fn hashes(&self) -> anyhow::Result<Vec<String>> {
        Ok(vec![self.current.hash()?, self.next.hash()?])
    }

    fn windows(&self) -> anyhow::Result<(Window, Window)> {
        Ok((self.current.window()?, self.next.window()?))
    }
}

/// Carries out `plan` on `stored`: the pair to store, or `None` to keep it.
pub fn carry_out(plan: Plan, stored: Option<&CertPair>) -> anyhow::Result<Option<CertPair>> {
    Ok(match (plan, stored) {
        (Plan::Keep, _) => None,
        (Plan::Promote { next }, Some(old)) => Some(CertPair {
            current: old.next.clone(),
            next: StoredCert::generate(next)?,
        }),
        (Plan::Promote { .. }, None) => anyhow::bail!("nothing stored to promote"),
        (Plan::Create { current, next }, _) => Some(CertPair {
            current: StoredCert::generate(current)?,
            next: StoredCert::generate(next)?,
        }),
    })
}

/// Base64 SHA-256 of a certificate, for `serverCertificateHashes`.
pub fn encode_hash(cert: &Certificate) -> String {
    STANDARD.encode(AsRef::<[u8; 32]>::as_ref(&cert.hash()))
}

/// A temporary certificate, served but not published, for a replica that
/// found nothing stored.
pub fn temporary() -> anyhow::Result<Identity> {
    let Plan::Create { current, .. } = plan(OffsetDateTime::now_utc(), None) else {
        anyhow::bail!("a fresh plan always creates");
    };
    StoredCert::generate(current)?.identity()
}

/// The stored pair and its exact bytes (the compare-and-set's `expect`).
#[derive(Clone, Debug)]
pub struct Loaded {
    pub raw: Vec<u8>,
    pub pair: CertPair,
}

async fn read_raw(read: &SqlitePool) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM settings WHERE key = ?")
        .bind(SETTING)
        .fetch_optional(read)
        .await
}

/// One look at the stored pair. On the primary, the pair is rotated (or
/// made) first when [`plan`] says so. `None`: nothing stored yet.
pub async fn refresh(state: &AppState) -> anyhow::Result<Option<Loaded>> {
    let mut raw = read_raw(&state.read).await?;
    if state.role() == Role::Primary {
        // An unreadable value is treated as none: the primary replaces it.
        let stored = raw
            .as_deref()
            .and_then(|r| serde_json::from_slice::<CertPair>(r).ok());
        let windows = stored.as_ref().and_then(|p| p.windows().ok());
        let plan = plan(OffsetDateTime::now_utc(), windows);
        if let Some(new) = carry_out(plan, stored.as_ref())? {
            let stored = state
                .writer
                .run(SetSetting {
                    key: SETTING.into(),
                    value: serde_json::to_vec(&new)?,
                    expect: raw.clone(),
                })
                .await?;
            if stored {
                tracing::info!(?plan, "WebTransport certificates stored");
            } else {
                tracing::info!("another node stored WebTransport certificates first");
            }
            raw = read_raw(&state.read).await?;
        }
    }
    let Some(raw) = raw else {
        return Ok(None);
    };
    let pair = serde_json::from_slice(&raw)?;
    Ok(Some(Loaded { raw, pair }))
}

/// The pair to serve at start. The primary makes one if none is stored; a
/// replica waits up to [`REPLICA_WAIT`] for the primary's. `None`: nothing
/// to serve yet (the caller serves a [`temporary`] one).
pub async fn initial(state: &AppState) -> Option<Loaded> {
    let deadline = tokio::time::Instant::now() + REPLICA_WAIT;
    loop {
        match refresh(state).await {
            Ok(Some(loaded)) => return Some(loaded),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading the WebTransport certificate"),
        }
        if state.role() == Role::Primary || tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                "no stored WebTransport certificate yet: serving a temporary one, not published"
            );
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time") + TDuration::days(days)
    }

    fn created(now: OffsetDateTime) -> (Window, Window) {
        match plan(now, None) {
            Plan::Create { current, next } => (current, next),
            other => panic!("a fresh store must create both, got {other:?}"),
        }
    }

    #[test]
    fn a_fresh_store_creates_current_and_next() {
        let now = at(0);
        let (current, next) = created(now);
        assert!(current.usable(now), "current serves at once");
        // Browsers refuse pinned certificates valid for more than 14 days.
        for w in [current, next] {
            assert!(w.not_after - w.not_before <= TDuration::days(14));
        }
        // NEXT is valid before CURRENT falls due, and usable then.
        let due = current.not_after - RENEW_BEFORE;
        assert!(next.not_before < due);
        assert!(next.not_before < current.not_after);
        assert!(next.usable(due));
    }

    #[test]
    fn far_from_expiry_nothing_changes() {
        let (current, next) = created(at(0));
        assert_eq!(plan(at(1), Some((current, next))), Plan::Keep);
        let just_before = current.not_after - RENEW_BEFORE - TDuration::minutes(1);
        assert_eq!(plan(just_before, Some((current, next))), Plan::Keep);
    }

    #[test]
    fn within_three_days_of_expiry_next_is_promoted_and_a_new_next_made() {
        let (current, next) = created(at(0));
        let now = current.not_after - RENEW_BEFORE + TDuration::minutes(1);
        let Plan::Promote { next: newer } = plan(now, Some((current, next))) else {
            panic!("expected a promotion");
        };
        assert_eq!(newer, next.successor());
        // The new NEXT is valid before the promoted one falls due.
        assert!(newer.not_before < next.not_after - RENEW_BEFORE);
        assert!(newer.not_after - newer.not_before <= TDuration::days(14));
    }

    #[test]
    fn after_a_long_outage_both_are_made_again() {
        let (current, next) = created(at(0));
        assert!(matches!(
            plan(at(40), Some((current, next))),
            Plan::Create { .. }
        ));
        // A clock set back before both windows: start over too.
        assert!(matches!(
            plan(at(-5), Some((current, next))),
            Plan::Create { .. }
        ));
    }

    #[test]
    fn over_two_months_the_served_certificate_is_always_valid_and_the_published_ones_overlap() {
        let (mut current, mut next) = created(at(0));
        let mut promotions = 0;
        // The primary looks every hour (it looks far more often, in fact).
        for hour in 0..(60 * 24) {
            let now = at(0) + TDuration::hours(hour);
            match plan(now, Some((current, next))) {
                Plan::Keep => {}
                Plan::Promote { next: newer } => {
                    promotions += 1;
                    // A client that fetched [current, next] before the
                    // rotation pinned the certificate served after it.
                    (current, next) = (next, newer);
                }
                Plan::Create { .. } => panic!("started over at hour {hour}"),
            }
            assert!(
                current.not_before <= now && now < current.not_after,
                "hour {hour}"
            );
            assert!(now + RENEW_BEFORE <= current.not_after, "hour {hour}");
        }
        assert!(promotions >= 5, "{promotions} promotions in 60 days");
    }

    #[test]
    fn a_stored_pair_round_trips_and_lists_current_then_next() {
        let fresh = plan(OffsetDateTime::now_utc(), None);
        let Plan::Create { current, next } = fresh else {
            panic!("fresh");
        };
        let pair = carry_out(fresh, None).expect("generate").expect("a pair");
        assert_eq!(pair.windows().expect("windows"), (current, next));
        let json = serde_json::to_vec(&pair).expect("json");
        let back: CertPair = serde_json::from_slice(&json).expect("parse");
        let hashes = back.hashes().expect("hashes");
        assert_eq!(hashes.len(), 2);
        assert_ne!(hashes[0], hashes[1]);
        assert_eq!(hashes[0].len(), 44, "base64 of 32 bytes");
        let served = back.current.identity().expect("identity");
        let first = &served.certificate_chain().as_slice()[0];
        assert_eq!(encode_hash(first), hashes[0], "current first");
        assert_eq!(
            encode_hash(
                &back
                    .next
                    .identity()
                    .expect("identity")
                    .certificate_chain()
                    .as_slice()[0]
            ),
            hashes[1]
        );

        // Promotion serves the old NEXT and makes a new one after it.
        let now = current.not_after - RENEW_BEFORE + TDuration::hours(1);
        let p = plan(now, Some((current, next)));
        let rotated = carry_out(p, Some(&back)).expect("rotate").expect("a pair");
        assert_eq!(rotated.current, back.next);
        assert_eq!(rotated.next.window().expect("window"), next.successor());
        assert_eq!(rotated.hashes().expect("hashes")[0], hashes[1]);
        assert_eq!(carry_out(Plan::Keep, Some(&back)).expect("keep"), None);
    }

    #[tokio::test]
    async fn set_setting_replaces_only_the_expected_value() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.db");
        let conn = crate::db::open_writer_connection(&path).expect("open");
        let (w, task) = crate::db::Writer::start(conn);
        let set = |value: &[u8], expect: Option<&[u8]>| SetSetting {
            key: "k".into(),
            value: value.to_vec(),
            expect: expect.map(<[u8]>::to_vec),
        };
        let changed = |r: Result<bool, _>| r.expect("set");
        // `None`: only if absent.
        assert!(changed(w.run(set(b"a", None)).await));
        assert!(!changed(w.run(set(b"b", None)).await));
        // A stale expectation (another primary wrote first) changes nothing.
        assert!(!changed(w.run(set(b"c", Some(b"x"))).await));
        assert!(changed(w.run(set(b"c", Some(b"a"))).await));
        assert!(!changed(w.run(set(b"d", Some(b"a"))).await));
        let read = crate::db::open_read_pool(&path).await.expect("read pool");
        let v: Vec<u8> = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'k'")
            .fetch_one(&read)
            .await
            .expect("value");
        assert_eq!(v, b"c");
        w.stop().await;
        task.await.expect("writer task");
    }
}
